/*
 * txt.c - the presentation form of TXT RDATA (RFC 1035 §5.1), as zone files
 * and `dig +short TXT` show it: each <length><bytes> character-string as a
 * double-quoted string, with \" \\ and \DDD (decimal) escapes, separated by
 * white space. The parser also takes bare (unquoted) strings, ( ) for
 * records split over lines, and ; comments.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define STRING_MAX 255 /* bytes of one character-string */

int cli_txt_print(const uint8_t *rdata, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = rdata[i++];
        if (n > len - i) {
            cli_err("internal error: TXT RDATA is truncated");
            return EXIT_FAIL;
        }
        if (i > 1)
            putchar(' ');
        putchar('"');
        for (size_t k = 0; k < n; k++) {
            uint8_t b = rdata[i + k];
            if (b == '"' || b == '\\')
                printf("\\%c", b);
            else if (b < 0x20 || b > 0x7e)
                printf("\\%03u", b);
            else
                putchar(b);
        }
        putchar('"');
        i += n;
    }
    putchar('\n');
    return EXIT_OK;
}

struct scan {
    const char *s;
    size_t len, pos;
    uint8_t *out;
    size_t cap, n;
    const char *why;
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skip white space, ( ) and ; comments between strings. */
static void skip_separators(struct scan *sc)
{
    while (sc->pos < sc->len) {
        char c = sc->s[sc->pos];
        if (is_space(c) || c == '(' || c == ')') {
            sc->pos++;
        } else if (c == ';') {
            while (sc->pos < sc->len && sc->s[sc->pos] != '\n')
                sc->pos++;
        } else {
            break;
        }
    }
}

/* One byte of a string at sc->pos, decoding an escape. -1 on error. */
static int next_byte(struct scan *sc)
{
    const char *s = sc->s;
    int v = 0;
    if (s[sc->pos] != '\\')
        return (unsigned char)s[sc->pos++];
    sc->pos++;
    if (sc->pos >= sc->len) {
        sc->why = "a backslash ends the text";
        return -1;
    }
    if (s[sc->pos] < '0' || s[sc->pos] > '9')
        return (unsigned char)s[sc->pos++];
    for (int k = 0; k < 3; k++, sc->pos++) {
        if (sc->pos >= sc->len || s[sc->pos] < '0' || s[sc->pos] > '9') {
            sc->why = "a \\DDD escape needs exactly three decimal digits";
            return -1;
        }
        v = v * 10 + (s[sc->pos] - '0');
    }
    if (v > 255) {
        sc->why = "a \\DDD escape is above 255";
        return -1;
    }
    return v;
}

static int string_done(const struct scan *sc, int quoted)
{
    char c = sc->s[sc->pos];
    if (quoted)
        return c == '"';
    return is_space(c) || c == '(' || c == ')' || c == ';';
}

/* One character-string, quoted or bare, appended as <length><bytes>. */
static int scan_string(struct scan *sc)
{
    int quoted = sc->s[sc->pos] == '"';
    size_t len_at = sc->n, n = 0;
    if (sc->n >= sc->cap) {
        sc->why = "the TXT record is too long";
        return -1;
    }
    sc->n++;
    sc->pos += (size_t)quoted;
    while (sc->pos < sc->len && !string_done(sc, quoted)) {
        if (!quoted && sc->s[sc->pos] == '"') {
            sc->why = "a quote inside an unquoted string";
            return -1;
        }
        int b = next_byte(sc);
        if (b < 0)
            return -1;
        if (n == STRING_MAX) {
            sc->why = "a character-string is longer than 255 bytes";
            return -1;
        }
        if (sc->n >= sc->cap) {
            sc->why = "the TXT record is too long";
            return -1;
        }
        sc->out[sc->n++] = (uint8_t)b;
        n++;
    }
    if (quoted) {
        if (sc->pos >= sc->len) {
            sc->why = "a quoted string is not closed";
            return -1;
        }
        sc->pos++; /* closing quote */
        if (sc->pos < sc->len && !string_done(sc, 0)) {
            sc->why = "no space after a closing quote";
            return -1;
        }
    }
    sc->out[len_at] = (uint8_t)n;
    return 0;
}

long cli_txt_parse(const char *text, size_t len, uint8_t *out, size_t cap, const char **why)
{
    struct scan sc = {text, len, 0, out, cap, 0, NULL};
    for (;;) {
        skip_separators(&sc);
        if (sc.pos >= sc.len)
            break;
        if (scan_string(&sc) != 0) {
            *why = sc.why;
            return -1;
        }
    }
    if (sc.n == 0) {
        *why = "no TXT strings found";
        return -1;
    }
    return (long)sc.n;
}
