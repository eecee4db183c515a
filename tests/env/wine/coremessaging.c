/* A stand-in `coremessaging.dll` for Wine 8.0, for tests only (never shipped: Windows 10
 * and later have the real one).
 *
 * capdeck.exe imports CreateDispatcherQueueController through windows-capture (scap's
 * Windows Graphics Capture backend). Wine 8.0 has no coremessaging.dll, so without this the
 * loader refuses to start the program at all. This one answers E_NOTIMPL, which is what a
 * system without Graphics Capture amounts to: capdeck's screen capture then fails with its
 * clear error (tests/windows_exe.rs checks it). Build:
 *   x86_64-w64-mingw32-gcc -O2 -shared -o coremessaging.dll coremessaging.c coremessaging.def
 */
#include <windows.h>

HRESULT WINAPI CreateDispatcherQueueController(const void *options, void **controller)
{
    (void)options;
    if (controller)
        *controller = NULL;
    return E_NOTIMPL;
}
