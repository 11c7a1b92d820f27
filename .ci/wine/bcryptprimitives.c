/* Wine 8 has no bcryptprimitives.dll, whose ProcessPrng Rust's standard
 * library calls for randomness since Rust 1.78. This stand-in exports
 * ProcessPrng on top of advapi32's RtlGenRandom (SystemFunction036), which
 * Wine implements. Built with mingw by .ci/wine/prepare.sh and copied into
 * the Wine prefix's system32; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
