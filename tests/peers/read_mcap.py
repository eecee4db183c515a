#!/usr/bin/env python3
"""An independent MCAP reader (Foxglove's `mcap` package) for capdeck's recording tests.

  read_mcap.py FILE...   -> JSON on stdout: per topic the message count, the schema name,
                            the schema and message encodings, the first message's first 16
                            bytes (hex) and whether log times never go backwards by more
                            than 50 ms; plus the file's message count.
Files are read with the indexed reader when they have a summary, else linearly.
"""
import json
import sys

from mcap.reader import make_reader

out = {"topics": {}, "messages": 0}
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        reader = make_reader(f)
        last = {}
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            t = out["topics"].setdefault(channel.topic, {
                "count": 0, "schema": schema.name if schema else None,
                "schema_encoding": schema.encoding if schema else None,
                "message_encoding": channel.message_encoding,
                "first": message.data[:16].hex(), "ordered": True,
            })
            t["count"] += 1
            out["messages"] += 1
            prev = last.get(channel.topic)
            if prev is not None and message.log_time + 50_000_000 < prev:
                t["ordered"] = False
            last[channel.topic] = message.log_time
            if t["count"] == 1 and channel.message_encoding == "json":
                t["first_json_keys"] = sorted(json.loads(message.data).keys())
json.dump(out, sys.stdout)
