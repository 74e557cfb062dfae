# expect: 3:5: error: 'look\there' contains a line break or a control character
rule tricky {
    warn "look	here"
}
