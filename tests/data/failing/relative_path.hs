# expect: 3:13: error: path 'var/lib/mail' is relative: write it from the root, starting with '/'
rule mail {
    include "var/lib/mail"
}
