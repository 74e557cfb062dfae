# expect: 3:5: error: promote restores mysql database 'asterisk' but no rule dumps it
package nethserver-freepbx {
    promote restore mysql asterisk
}
