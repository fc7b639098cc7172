package sioserver

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestRecoveryReplay(t *testing.T) {
	s := newServer(t, Options{Recovery: true})
	tc := dialOpen(t, s)
	c := accept(t, s)
	sid, pid := sidOf(t, tc.connect("/", `{"token":"x"}`))
	_ = c.Emit("/", "seen", 1)
	offset := offsetOf(t, tc.next(), "seen")
	_ = c.Emit("/", "missed", 2)
	_ = tc.conn.Close()
	waitClosed(t, c)
	_ = s.EmitAll("/", "broadcast", 3)

	tc2 := dialOpen(t, s)
	tc2.send(fmt.Sprintf(`40{"token":"x","pid":%q,"offset":%q}`, pid, offset))
	offsetOf(t, tc2.next(), "missed")
	offsetOf(t, tc2.next(), "broadcast")
	sid2, pid2 := sidOf(t, tc2.next())
	if sid2 != sid || pid2 != pid {
		t.Fatalf(
			"restored sid/pid %s/%s, want %s/%s",
			sid2, pid2, sid, pid,
		)
	}
}

// offsetOf checks that msg is an EVENT named name whose last argument is
// a recovery offset, and returns the offset.
func offsetOf(t *testing.T, msg, name string) string {
	t.Helper()
	var args []any
	_ = json.Unmarshal([]byte(strings.TrimPrefix(msg, "42")), &args)
	if len(args) < 2 || args[0] != name {
		t.Fatalf(
			"got %q, want event %q with an offset",
			msg, name,
		)
	}
	offset, ok := args[len(args)-1].(string)
	if !ok || offset == "" {
		t.Fatalf(
			"no offset in %q",
			msg,
		)
	}
	return offset
}

func TestRecoveryRestoresSidAndPid(t *testing.T) {
	s := newServer(t, Options{Recovery: true})
	tc := dialOpen(t, s)
	c := accept(t, s)
	sid, pid := sidOf(t, tc.connect("/", ""))
	_ = c.Emit("/", "one")
	offset := offsetOf(t, tc.next(), "one")
	c.Drop()
	waitClosed(t, c)

	tc2 := dialOpen(t, s)
	auth := fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset)
	sid2, pid2 := sidOf(t, tc2.connect("/", auth))
	if sid2 != sid || pid2 != pid {
		t.Fatalf(
			"restored sid/pid %s/%s, want %s/%s",
			sid2, pid2, sid, pid,
		)
	}
	tc3 := dialOpen(t, s)
	_, pid3 := sidOf(t, tc3.connect("/", `{"pid":"unknown","offset":"0"}`))
	if pid3 == "" || pid3 == pid {
		t.Fatalf(
			"unknown pid got pid %q",
			pid3,
		)
	}
}
