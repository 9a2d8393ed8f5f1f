/*
 * text.c - the trust file: parse and write (docs/formats.md §4).
 *
 *   # comment line                       kept verbatim, in place
 *   allow ni:///sha3-256;B name=alice groups=lab,ops expires=2026-12-01T00:00:00Z
 *   deny  ni://dir.example.org/sha3-256;B name=mallory
 *
 * One entry per line; fields separated by runs of spaces and tabs; options
 * in any order, each at most once. Entries are written back in canonical
 * form: single spaces, options in the order name, groups, expires.
 */
#include <string.h>

#include "trust/trust_int.h"
#include "util/util.h"

enum { OPT_NAME = 1, OPT_GROUPS = 2, OPT_EXPIRES = 4 };

static int is_blank(int c)
{
    return c == ' ' || c == '\t';
}

static void skip_blanks(pl_rd *r)
{
    while (is_blank(pl_rd_peek(r)))
        (void)pl_rd_u8(r);
}

/* The next field: skips blanks, then takes up to the next blank or the end.
 * An empty span means the line is used up. */
static pl_span next_field(pl_rd *r)
{
    skip_blanks(r);
    pl_rd probe = *r;
    size_t n = 0;
    for (int c = pl_rd_peek(&probe); c >= 0 && !is_blank(c); c = pl_rd_peek(&probe)) {
        (void)pl_rd_u8(&probe);
        n++;
    }
    return pl_rd_take(r, n);
}

static int parse_fail(const char **why, const char *msg)
{
    *why = msg;
    return PL_ERR_PARSE;
}

static int is_petname_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '+' || c == '-';
}

static int is_group_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int pl_trust_check_petname(const char *s, size_t len, const char **why)
{
    if (len == 0)
        return parse_fail(why, "name= needs a value");
    if (len > PL_TRUST_PETNAME_MAX)
        return parse_fail(why, "the name is longer than 64 characters");
    for (size_t i = 0; i < len; i++)
        if (!is_petname_char((unsigned char)s[i]))
            return parse_fail(why, "a name may contain only letters, digits and . _ @ + -");
    return PL_OK;
}

static int check_group(pl_span g, const pl_trust_entry *e, const char **why)
{
    if (g.len == 0)
        return parse_fail(why, "empty group name in groups= (look for a stray comma)");
    if (g.len > PL_TRUST_GROUP_NAME_MAX)
        return parse_fail(why, "a group name is longer than 32 characters");
    for (size_t i = 0; i < g.len; i++)
        if (!is_group_char(g.p[i]))
            return parse_fail(why, "a group name may contain only a-z, 0-9, _ and -");
    if (e->n_groups == PL_TRUST_GROUPS_MAX)
        return parse_fail(why, "more than 16 groups on one entry");
    for (size_t i = 0; i < e->n_groups; i++)
        if (pl_span_eq(g, e->groups[i]))
            return parse_fail(why, "the same group is listed twice in groups=");
    return PL_OK;
}

int pl_trust_parse_groups(pl_trust_entry *e, const char *s, size_t len, const char **why)
{
    if (len == 0)
        return parse_fail(why, "groups= needs at least one group name");
    pl_rd r = pl_rd_init(s, len);
    do {
        pl_span g = pl_rd_until(&r, ',');
        int rc = check_group(g, e, why);
        if (rc != PL_OK)
            return rc;
        memcpy(e->groups[e->n_groups], g.p, g.len);
        e->groups[e->n_groups][g.len] = 0;
        e->n_groups++;
    } while (pl_rd_accept(&r, ","));
    if (!pl_rd_finish(&r))
        return parse_fail(why, "groups= is malformed");
    return PL_OK;
}

int pl_trust_check_kind_options(const pl_trust_entry *e, const char **why)
{
    if (e->kind == PL_TRUST_DENY && e->n_groups > 0)
        return parse_fail(why, "groups= is not allowed on a deny line: groups grant access "
                               "and a deny grants nothing");
    return PL_OK;
}

static int parse_option(pl_span f, pl_trust_entry *e, unsigned *seen, const char **why)
{
    pl_rd r = pl_rd_init(f.p, f.len);
    pl_span key = pl_rd_until(&r, '=');
    if (!pl_rd_accept(&r, "="))
        return parse_fail(why, "unknown option (expected name=, groups= or expires=)");
    pl_span val = pl_rd_take(&r, pl_rd_left(&r));
    unsigned opt = pl_span_eq(key, "name")      ? OPT_NAME
                   : pl_span_eq(key, "groups")  ? OPT_GROUPS
                   : pl_span_eq(key, "expires") ? OPT_EXPIRES
                                                : 0;
    if (opt == 0)
        return parse_fail(why, "unknown option (expected name=, groups= or expires=)");
    if (*seen & opt)
        return parse_fail(why, "an option appears twice on one line (each of name=, groups= "
                               "and expires= at most once)");
    *seen |= opt;
    int rc;
    const char *v = (const char *)val.p;
    if (opt == OPT_NAME) {
        rc = pl_trust_check_petname(v, val.len, why);
        if (rc == PL_OK) {
            memcpy(e->petname, v, val.len);
            e->petname[val.len] = 0;
        }
    } else if (opt == OPT_GROUPS) {
        rc = pl_trust_parse_groups(e, v, val.len, why);
    } else {
        rc = pl_time_parse(v, val.len, &e->expires, why);
        if (rc != PL_OK)
            *why = "expires= must be a real calendar date and time in UTC, written "
                   "YYYY-MM-DDTHH:MM:SSZ, e.g. 2026-12-01T00:00:00Z";
        else if (e->expires == 0) /* 0 means "never" in an entry */
            rc = parse_fail(why, "expires= must be after 1970-01-01T00:00:00Z");
    }
    if (rc == PL_OK && !pl_rd_finish(&r))
        rc = parse_fail(why, "malformed option");
    return rc;
}

int pl_trust_parse_entry(pl_span line, pl_trust_entry *e, const char **why)
{
    static const char trailing[] = "comments after an entry are not supported: put the comment "
                                   "on a line of its own, starting with '#'";
    memset(e, 0, sizeof *e);
    pl_rd r = pl_rd_init(line.p, line.len);
    pl_span verb = next_field(&r);
    if (pl_span_eq(verb, "allow"))
        e->kind = PL_TRUST_ALLOW;
    else if (pl_span_eq(verb, "deny"))
        e->kind = PL_TRUST_DENY;
    else
        return parse_fail(why, "unknown verb: an entry starts with allow or deny "
                               "(a comment line starts with '#')");
    pl_span fp = next_field(&r);
    if (fp.len == 0)
        return parse_fail(why, "missing fingerprint after allow/deny");
    if (fp.p[0] == '#')
        return parse_fail(why, trailing);
    if (pl_fingerprint_parse(&e->fp, (const char *)fp.p, fp.len, why) != PL_OK)
        return PL_ERR_PARSE; /* *why says what is wrong with it */
    unsigned seen = 0;
    for (pl_span f = next_field(&r); f.len > 0; f = next_field(&r)) {
        if (f.p[0] == '#')
            return parse_fail(why, trailing);
        int rc = parse_option(f, e, &seen, why);
        if (rc != PL_OK)
            return rc;
    }
    if (!pl_rd_finish(&r))
        return parse_fail(why, "malformed entry line");
    return pl_trust_check_kind_options(e, why);
}

void pl_trust_write_ent(const struct pl_trust_ent *e, pl_wr *w)
{
    pl_fingerprint fp;
    char fptext[PL_FINGERPRINT_STR_MAX];
    size_t alen = strlen(e->authority);
    memcpy(fp.digest, e->digest, sizeof fp.digest);
    memcpy(fp.authority, e->authority, alen + 1);
    int n = pl_fingerprint_format(&fp, fptext, sizeof fptext);
    if (n < 0) {
        w->err = true; /* cannot happen within the caps; fail the writer */
        return;
    }
    pl_wr_str(w, e->kind == PL_TRUST_ALLOW ? "allow " : "deny ");
    pl_wr_bytes(w, fptext, (size_t)n);
    if (e->petname[0]) {
        pl_wr_str(w, " name=");
        pl_wr_str(w, e->petname);
    }
    if (e->groups[0]) {
        pl_wr_str(w, " groups=");
        pl_wr_str(w, e->groups);
    }
    if (e->expires) {
        char t[PL_TIME_LEN + 1];
        pl_wr_str(w, " expires=");
        if (pl_time_format(e->expires, t, sizeof t) == PL_TIME_LEN)
            pl_wr_str(w, t);
        else
            w->err = true; /* unreachable: pl_trust_set caps expires */
    }
    pl_wr_u8(w, '\n');
}

/* Whole-line checks, before the line's grammar. */
static int check_line(pl_span s, const char **why)
{
    if (s.len > PL_TRUST_LINE_MAX)
        return parse_fail(why, "the line is longer than 1024 bytes");
    if (memchr(s.p, 0, s.len))
        return parse_fail(why, "NUL byte in the trust file (it must be plain text)");
    if (memchr(s.p, '\r', s.len))
        return parse_fail(why, "carriage return in the trust file: use Unix line endings "
                               "(\"\\n\", not \"\\r\\n\")");
    return PL_OK;
}

/* Blank, or a comment: first non-blank character '#'. */
static int is_note_line(pl_span s)
{
    pl_rd r = pl_rd_init(s.p, s.len);
    skip_blanks(&r);
    return pl_rd_left(&r) == 0 || pl_rd_peek(&r) == '#';
}

static int add_entry(pl_trust *ts, pl_span s, const char **why)
{
    pl_trust_entry e;
    int rc = pl_trust_parse_entry(s, &e, why);
    if (rc != PL_OK)
        return rc;
    rc = pl_trust_put(ts, &e, 0, why);
    if (rc == PL_ERR_EXIST)
        return parse_fail(why, e.kind == PL_TRUST_ALLOW
                                   ? "a second allow line for this fingerprint: an earlier "
                                     "line already allows it (merge the two)"
                                   : "a second deny line for this fingerprint: an earlier "
                                     "line already denies it (merge the two)");
    if (rc == PL_ERR_TOOBIG && ts->n_ents == PL_TRUST_ENTRIES_MAX)
        return parse_fail(why, "too many entries (at most 65536)");
    return rc;
}

static int parse_lines(pl_trust *ts, const char *text, size_t len, size_t *line, const char **why)
{
    pl_rd r = pl_rd_init(text, len);
    const char *run = NULL, *run_end = NULL; /* pending comment/blank lines */
    int rc = PL_OK;
    while (rc == PL_OK && pl_rd_left(&r) > 0) {
        ++*line;
        pl_span s = pl_rd_until(&r, '\n');
        int nl = pl_rd_accept(&r, "\n");
        rc = check_line(s, why);
        if (rc != PL_OK)
            break;
        if (!nl) {
            /* Without an end marker, the final newline is what tells a
             * complete file from one cut short inside a line (where
             * "groups=admins-ro" could become "groups=admins"). */
            rc = parse_fail(why, "the last line does not end with a newline: the file may "
                                 "have been cut short (if the line is complete, add a newline)");
            break;
        }
        if (is_note_line(s)) {
            run = run ? run : (const char *)s.p;
            run_end = (const char *)s.p + s.len + nl;
            continue;
        }
        if (run)
            rc = pl_trust_add_note(ts, run, (size_t)(run_end - run), why);
        run = NULL;
        if (rc == PL_OK)
            rc = add_entry(ts, s, why);
    }
    if (rc == PL_OK && run)
        rc = pl_trust_add_note(ts, run, (size_t)(run_end - run), why);
    if (rc == PL_OK && !pl_rd_finish(&r))
        rc = parse_fail(why, "malformed trust file");
    return rc;
}

int pl_trust_parse(pl_trust **out, const char *text, size_t len, size_t *line, const char **why)
{
    const char *why_ignored;
    size_t line_ignored;
    why = why ? why : &why_ignored;
    line = line ? line : &line_ignored;
    *line = 0;
    if (!out || (!text && len)) {
        *why = "no trust store or text given";
        return PL_ERR_INVAL;
    }
    *out = NULL;
    if (len > PL_TRUST_FILE_MAX) {
        *why = "the trust file is larger than 4 MiB";
        return PL_ERR_TOOBIG;
    }
    pl_trust *ts;
    int rc = pl_trust_new(&ts);
    if (rc != PL_OK) {
        *why = "cannot create a trust store";
        return rc;
    }
    rc = parse_lines(ts, text, len, line, why);
    if (rc != PL_OK) {
        if (rc != PL_ERR_PARSE)
            *line = 0; /* not about one line */
        pl_trust_free(ts);
        return rc;
    }
    *line = 0;
    *out = ts;
    return PL_OK;
}

int pl_trust_format(const pl_trust *ts, char *out, size_t cap)
{
    if (!ts || (!out && cap))
        return PL_ERR_INVAL;
    pl_wr w = pl_wr_init(out, cap);
    size_t k = 0;
    for (size_t i = 0; i <= ts->n_ents; i++) {
        for (; k < ts->n_notes && ts->notes[k].at == i; k++)
            pl_wr_bytes(&w, ts->notes[k].text, ts->notes[k].len);
        if (i < ts->n_ents)
            pl_trust_write_ent(ts->ents[i], &w);
    }
    pl_wr_nul(&w);
    return pl_wr_result(&w);
}
