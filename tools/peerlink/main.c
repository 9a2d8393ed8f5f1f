/* main.c - placeholder */
#include <stdio.h>

int main(void)
{
    fputs("peerlink: not built yet\n", stderr);
    return 1;
}
