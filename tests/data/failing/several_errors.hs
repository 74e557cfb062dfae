# expect: 5:19: error: '0' is not a TCP port (expected a number from 1 to 65535)
# expect: 8:5: error: cron hour 24 is out of range 0-23
# expect: 11:13: error: path 'relative' is relative: write it from the root, starting with '/'
global {
    tunnel_port = 0
}
role master {
    schedule sync "0 24 * * *"
}
rule r {
    include "relative"
}
