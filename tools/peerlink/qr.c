/*
 * qr.c - a QR code in the terminal, two module rows per text line.
 *
 * Each character cell covers one module column and two module rows, drawn
 * with the half blocks U+2580 (upper), U+2584 (lower), U+2588 (full) or a
 * space. "Ink" is the terminal's foreground colour. By default the ink marks
 * LIGHT modules, so on the usual light-on-dark terminal the code reads as
 * dark modules on a light ground; `invert` puts the ink on dark modules for
 * dark-on-light terminals. A quiet zone of 4 light modules surrounds the code
 * (ISO/IEC 18004 asks for 4).
 */
#include <stdio.h>
#include <string.h>

#include <qrencode.h>

#include "cli.h"

#define QUIET 4

static const char *const cells[4] = {
    " ",            /* no ink */
    "\xe2\x96\x80", /* upper half */
    "\xe2\x96\x84", /* lower half */
    "\xe2\x96\x88", /* full block */
};

/* 1 if module (x, y) is dark; everything outside the symbol is quiet zone. */
static int dark(const QRcode *qr, int x, int y)
{
    if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
        return 0;
    return qr->data[(size_t)y * (size_t)qr->width + (size_t)x] & 1;
}

static void print_rows(const QRcode *qr, int invert)
{
    int lo = -QUIET, hi = qr->width + QUIET; /* module range, both axes */
    for (int y = lo; y < hi; y += 2) {
        for (int x = lo; x < hi; x++) {
            int top = dark(qr, x, y) ^ !invert;
            /* An odd height leaves half a row below the quiet zone: quiet. */
            int bottom = y + 1 < hi ? dark(qr, x, y + 1) ^ !invert : !invert;
            fputs(cells[top | bottom << 1], stdout);
        }
        putchar('\n');
    }
}

int cli_print_qr(const char *text, int invert)
{
    /* Level M: 15% recovery, still small for a ~60-character fingerprint. */
    QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (!qr) {
        cli_err("cannot draw a QR code of %zu characters", strlen(text));
        return EXIT_FAIL;
    }
    print_rows(qr, invert);
    QRcode_free(qr);
    return EXIT_OK;
}
