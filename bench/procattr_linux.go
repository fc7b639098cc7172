package main

import "syscall"

// childAttr makes the kernel kill a child when the bench process dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
