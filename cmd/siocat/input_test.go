package main

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseLine(t *testing.T) {
	name, args, err := parseLine(` ["join", "room1", {"a": 1}, null] `)
	if err != nil || name != "join" || len(args) != 3 {
		t.Fatalf("parseLine = %q %v %v", name, args, err)
	}
	for i, want := range []string{`"room1"`, `{"a": 1}`, `null`} {
		if got, _ := args[i].(json.RawMessage); string(got) != want {
			t.Errorf("arg %d = %s, want %s", i, got, want)
		}
	}
	if name, args, err := parseLine(`["only"]`); err != nil || name != "only" || len(args) != 0 {
		t.Errorf("parseLine(only) = %q %v %v", name, args, err)
	}
}

func TestParseLineErrors(t *testing.T) {
	tests := map[string]string{
		`hello`:         "not a JSON array",
		`{"a":1}`:       "not a JSON array",
		`["a",`:         "invalid JSON",
		`["a"] ["b"]`:   "invalid JSON",
		`[]`:            "empty array",
		`[1,"a"]`:       "event name",
		`[null]`:        "event name",
		`[["a"], "b"]`:  "event name",
		`["a", tru]`:    "invalid JSON",
		"[\"a\"]\x00 x": "invalid JSON",
	}
	for line, want := range tests {
		if _, _, err := parseLine(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseLine(%q) = %v, want an error containing %q", line, err, want)
		}
	}
}

func collect(r io.Reader) []inputLine {
	out := make(chan inputLine)
	go readLines(r, 100, out, make(chan struct{}))
	var got []inputLine
	for in := range out {
		got = append(got, in)
	}
	return got
}

func TestReadLines(t *testing.T) {
	got := collect(strings.NewReader("a\n\n  \t\nb\r\nc"))
	want := []inputLine{{no: 1, text: "a"}, {no: 4, text: "b"}, {no: 5, text: "c"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadLinesError(t *testing.T) {
	boom := errors.New("boom")
	got := collect(io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(boom)))
	if len(got) != 2 || got[0].text != "a" || !errors.Is(got[1].err, boom) || got[1].no != 2 {
		t.Fatalf("got %+v", got)
	}
	long := strings.Repeat("x", 101)
	got = collect(strings.NewReader("a\n" + long + "\nb\n"))
	if len(got) != 2 || got[1].err == nil || !strings.Contains(got[1].err.Error(), "longer than") {
		t.Fatalf("got %d items, last %v", len(got), got[len(got)-1].err)
	}
}

func TestReadLinesStopsOnDone(t *testing.T) {
	out := make(chan inputLine)
	done := make(chan struct{})
	close(done)
	readLines(strings.NewReader("a\nb\n"), 100, out, done)
	if _, ok := <-out; ok {
		t.Error("a line was sent after done")
	}
}
