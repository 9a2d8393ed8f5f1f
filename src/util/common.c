/* common.c - errors, initialisation and the log callback. */
#include <stdarg.h>
#include <stdio.h>

#include <sodium.h>

#include "peerlink.h"
#include "util/util.h"

const char *pl_strerror(int err)
{
    switch (err) {
    case PL_OK: return "success";
    case PL_ERR_INVAL: return "invalid argument";
    case PL_ERR_NOMEM: return "out of memory";
    case PL_ERR_IO: return "input/output error";
    case PL_ERR_PARSE: return "malformed input";
    case PL_ERR_TOOBIG: return "input exceeds a size limit";
    case PL_ERR_BUFSIZE: return "output buffer too small";
    case PL_ERR_AUTH: return "authentication failed";
    case PL_ERR_EXPIRED: return "expired";
    case PL_ERR_FUTURE: return "dated in the future";
    case PL_ERR_PERM: return "unsafe file permissions";
    case PL_ERR_EXIST: return "already exists";
    case PL_ERR_NOTFOUND: return "not found";
    case PL_ERR_VERSION: return "unsupported format version";
    case PL_ERR_DENIED: return "peer is denied by the trust store";
    case PL_ERR_UNTRUSTED: return "peer is not trusted";
    case PL_ERR_INTERNAL: return "internal error";
    case PL_ERR_ROLE: return "the roles cannot be settled";
    case PL_ERR_TIMEOUT: return "no answer in time";
    case PL_ERR_UNREACHABLE: return "the peer could not be reached";
    case PL_ERR_REFUSED: return "refused by the peer";
    case PL_ERR_CLOSED: return "the peer closed the connection";
    default: return "unknown error";
    }
}

static pl_log_fn log_fn;
static void *log_user;
static enum pl_log_level log_max = PL_LOG_INFO;

void pl_set_log(pl_log_fn fn, void *user, enum pl_log_level max_level)
{
    log_fn = fn;
    log_user = user;
    log_max = max_level;
}

void pl_log(enum pl_log_level level, const char *fmt, ...)
{
    if (!log_fn || level > log_max)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(log_user, level, msg);
}

int pl_init(void)
{
    return sodium_init() < 0 ? PL_ERR_INTERNAL : PL_OK;
}
