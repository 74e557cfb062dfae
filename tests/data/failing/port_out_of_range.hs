# expect: 3:19: error: '70000' is not a TCP port (expected a number from 1 to 65535)
global {
    tunnel_port = 70000
}
