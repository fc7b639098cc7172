//go:build !linux

package main

import "syscall"

// childAttr: without Pdeathsig, children end on stdin end-of-file.
func childAttr() *syscall.SysProcAttr { return nil }
