# helpers.sh - sourced by the benchmark scripts in bench/ (not a benchmark:
# scripts/bench.sh runs bench/*.sh only).
#   port                 a free TCP port on 127.0.0.1
#   wait_listen PORT     until a TCP listener is on PORT (up to 5 s)
#   fp_of_key FILE       the peerlink fingerprint of an OpenSSL Ed25519 key
#   median               the median of the numbers on stdin
#   ratio A B            A / B with two decimals (0 when B is 0)
port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_listen() {
    for _ in $(seq 1 250); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN && return 0
        sleep 0.02
    done
    return 1
}
fp_of_key() {
    printf 'ni:///sha3-256;%s' "$(openssl pkey -in "$1" -pubout -outform DER |
        openssl dgst -sha3-256 -binary | basenc --base64url | tr -d '=')"
}
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
