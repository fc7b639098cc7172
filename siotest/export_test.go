package siotest

// Pongs returns how many pongs the client sent on c so far.
func Pongs(c *Conn) int { return c.c.Pongs() }
