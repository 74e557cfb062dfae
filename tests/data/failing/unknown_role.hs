# expect: 2:1: error: unknown role 'mastr' (did you mean 'master'?); roles are master and slave
role mastr {
    slave_host = 10.0.0.2
}
