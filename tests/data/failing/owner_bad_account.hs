# expect: 3:11: error: unexpected '1asterisk:asterisk'; expected OWNER:GROUP
rule pbx {
    owner 1asterisk:asterisk /etc/asterisk/
}
