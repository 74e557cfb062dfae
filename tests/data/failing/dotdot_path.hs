# expect: 3:13: error: path '/etc/../root/.ssh' contains '..': write it without going up
rule sneaky {
    include /etc/../root/.ssh
}
