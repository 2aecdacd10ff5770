package ftp

import "syscall"

// errTooManyFiles is the accept error worth waiting out rather than
// stopping the server for.
var errTooManyFiles = syscall.EMFILE
