# expect: 3:18: error: '2147483648' is not a duration (expected a whole number of seconds from 1 to 86400)
global {
    io_timeout = 2147483648
}
