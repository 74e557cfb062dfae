# expect: 3:5: error: path 'usr/bin/getfacl' is relative: write it from the root, starting with '/'
rule acls {
    before push run "usr/bin/getfacl" "-R"
}
