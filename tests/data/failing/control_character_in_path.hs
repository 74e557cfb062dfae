# expect: 3:13: error: path '/etc/ok\tx' contains a line break or a control character
rule tricky {
    include "/etc/ok	x"
}
