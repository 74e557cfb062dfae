# expect: 4:5: error: setting 'max_delete' is already set at {FILE}:3:5
global {
    max_delete = 20%
    max_delete = 50%
}
