# expect: 3:12: error: unknown keyword 'pusj' (did you mean 'push'?)
rule acls {
    before pusj run /usr/bin/getfacl
}
