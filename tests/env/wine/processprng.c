/* A stand-in `bcryptprimitives.dll` for Wine older than 8.13, for tests only.
 *
 * Every program built by Rust 1.78 or newer imports ProcessPrng from bcryptprimitives.dll
 * (std's random source on Windows 10+). Wine added it in 8.13; Debian 12 ships Wine 8.0, on
 * which capdeck.exe would not start. This DLL is installed into the test Wine prefix's
 * system32 (tests/env/wine/prefix.sh), never shipped: on Windows bcryptprimitives.dll is a
 * KnownDLL and always the system's. ProcessPrng forwards to RtlGenRandom
 * (advapi32!SystemFunction036), which Wine 8.0 has. Build:
 *   x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll processprng.c processprng.def -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
