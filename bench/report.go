package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

// row is one line of the results: the median of a series.
type row struct {
	Scenario         string    `json:"scenario"`
	Client           string    `json:"client"`
	Value            float64   `json:"value"`
	Unit             string    `json:"unit"`
	RatioToFloor     *float64  `json:"ratio_to_floor,omitempty"`
	RatioToSiostream *float64  `json:"ratio_to_siostream,omitempty"`
	Note             string    `json:"note,omitempty"`
	Runs             []float64 `json:"runs"`
}

func (b *bench) rows() []row {
	med := make(map[string]float64)
	for _, s := range b.order {
		med[s.Scenario+"\x00"+s.Client] = median(s.Values)
	}
	rows := make([]row, 0, len(b.order))
	for _, s := range b.order {
		r := row{Scenario: s.Scenario, Client: s.Client, Value: median(s.Values), Unit: s.Unit, Note: s.Note, Runs: s.Values}
		if base, ok := med[s.Scenario+"\x00"+s.RatioTo]; ok && base != 0 {
			ratio := r.Value / base
			if s.RatioTo == cFloor {
				r.RatioToFloor = &ratio
			} else {
				r.RatioToSiostream = &ratio
			}
		}
		rows = append(rows, r)
	}
	// Scenarios in the order they first ran, clients in a fixed order.
	scen := make(map[string]int)
	for _, r := range rows {
		if _, ok := scen[r.Scenario]; !ok {
			scen[r.Scenario] = len(scen)
		}
	}
	rank := map[string]int{cFloor: 0, cSio: 1, cZS: 2, cNode: 3}
	sort.SliceStable(rows, func(i, j int) bool {
		if a, b := scen[rows[i].Scenario], scen[rows[j].Scenario]; a != b {
			return a < b
		}
		return rank[rows[i].Client] < rank[rows[j].Client]
	})
	return rows
}

func (r row) ratio() string {
	switch {
	case r.RatioToFloor != nil:
		return fmt.Sprintf("%.3f× floor", *r.RatioToFloor)
	case r.RatioToSiostream != nil:
		return fmt.Sprintf("%.2f× siostream", *r.RatioToSiostream)
	}
	return ""
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "events/s":
		return groupDigits(int64(math.Round(v)))
	case "allocs/event", "allocs/emit":
		return fmt.Sprintf("%.3f", v)
	case "B/event", "B/emit", "µs", "KiB/conn":
		return fmt.Sprintf("%.1f", v)
	case "goroutines/conn":
		return fmt.Sprintf("%.2f", v)
	case "B":
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}

func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func markdownTable(rows []row) string {
	multi := false
	for _, r := range rows {
		multi = multi || len(r.Runs) > 1
	}
	var b strings.Builder
	if multi {
		b.WriteString("| scenario | client | value (median) | unit | ratio | range of the runs | notes |\n")
		b.WriteString("| --- | --- | ---: | --- | ---: | ---: | --- |\n")
	} else {
		b.WriteString("| scenario | client | value | unit | ratio | notes |\n")
		b.WriteString("| --- | --- | ---: | --- | ---: | --- |\n")
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |", r.Scenario, r.Client, formatValue(r.Value, r.Unit), r.Unit, r.ratio())
		if multi {
			lo, hi := slices.Min(r.Runs), slices.Max(r.Runs)
			fmt.Fprintf(&b, " %s – %s |", formatValue(lo, r.Unit), formatValue(hi, r.Unit))
		}
		fmt.Fprintf(&b, " %s |\n", r.Note)
	}
	b.WriteString("\n")
	b.WriteString(goals(rows))
	return b.String()
}

func readJSON(path string) ([]row, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []row
	err = json.Unmarshal(data, &rows)
	return rows, err
}

func writeJSON(path string, rows []row) error {
	out, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}

// Earlier reference figure, used when socket.io-client could not run here.
const earlierNodeReceive = 463_000

// allocSlack lets the allocation goals absorb a run's fixed cost (the
// dial, the start or done emit): a few dozen allocations in all, well
// under 0.01 per event.
const allocSlack = 0.01

// goal is one line of the goals table.
type goal struct {
	text     string // what is aimed at
	figure   string // where siostream stands
	measured bool
	partly   bool // some of the figures the goal covers are missing
	met      bool
}

func (g goal) verdict() string {
	switch {
	case !g.measured:
		return "not measured"
	case g.met && g.partly:
		return "met where measured"
	case g.met:
		return "met"
	}
	return "**missed**"
}

// figures looks up the medians of a run.
type figures []row

func (f figures) get(scenario, client string) (float64, bool) {
	for _, r := range f {
		if r.Scenario == scenario && r.Client == client {
			return r.Value, true
		}
	}
	return 0, false
}

// goals says where siostream stands against each of its goals, with a
// verdict: met, missed, or not measured in this run.
func goals(rows []row) string {
	f := figures(rows)
	gs := []goal{
		f.vsFloor("receive 64 B", "≥ 0.4× floor (aim 0.5×)", 0.4, 0.5, true),
		f.receiveVsNode(),
		f.vsFloor("receive 1 KiB", "≥ 0.6× floor", 0.6, 0, true),
		f.receiveAllocs(),
	}
	for _, scen := range []string{"emit 64 B, 1 goroutine", "emit 64 B, 8 goroutines"} {
		gs = append(gs, f.emitVsZishang(scen), f.vsFloor(scen, "≥ 0.5× the emit floor", 0.5, 0, true))
	}
	for _, where := range []string{"Go echo server", "Node socket.io server"} {
		gs = append(gs, f.vsFloor("ack RTT p50, "+where, "≤ 1.2× floor", 1.2, 0, false))
	}
	gs = append(gs, f.emitAllocs(), f.eventSize(),
		f.idle("idle RSS per connection", "idle RSS ≤ 10 KiB per stream, below every peer", 10),
		f.idle("idle Go heap per connection", "idle Go heap ≤ 12 KiB per stream, below every peer", 12))
	var b strings.Builder
	b.WriteString("Goals:\n\n| goal | siostream | verdict |\n| --- | --- | --- |\n")
	for _, g := range gs {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", g.text, g.figure, g.verdict())
	}
	return b.String()
}

// vsFloor compares siostream's figure in scenario with the floor's: at
// least limit times it when higher is better, at most when lower is.
// A non-zero aim is reported beside the limit.
func (f figures) vsFloor(scenario, text string, limit, aim float64, higherBetter bool) goal {
	g := goal{text: scenario + " " + text, figure: "—"}
	sio, ok1 := f.get(scenario, cSio)
	fl, ok2 := f.get(scenario, cFloor)
	if !ok1 || !ok2 || fl == 0 {
		return g
	}
	r := sio / fl
	unit := unitOf(f, scenario)
	g.measured = true
	g.met = r >= limit
	if !higherBetter {
		g.met = r <= limit
	}
	g.figure = fmt.Sprintf("%.3f× floor (%s vs %s %s)", r, formatValue(sio, unit), formatValue(fl, unit), unit)
	if aim > 0 && r >= aim {
		g.figure += fmt.Sprintf("; aim %.1f×: reached", aim)
	} else if aim > 0 {
		g.figure += fmt.Sprintf("; aim %.1f×: not yet", aim)
	}
	return g
}

func unitOf(f figures, scenario string) string {
	for _, r := range f {
		if r.Scenario == scenario {
			return r.Unit
		}
	}
	return ""
}

func (f figures) receiveVsNode() goal {
	g := goal{text: "receive 64 B ≥ 10× socket.io-client", figure: "—"}
	sio, ok := f.get("receive 64 B", cSio)
	if !ok {
		return g
	}
	node, src := float64(earlierNodeReceive), "the "+groupDigits(earlierNodeReceive)+" events/s measured earlier"
	if v, ok := f.get("receive 64 B", cNode); ok {
		node, src = v, groupDigits(int64(math.Round(v)))+" events/s in the same run"
	}
	r := sio / node
	g.measured, g.met = true, r >= 10
	g.figure = fmt.Sprintf("%.1f× socket.io-client (%s)", r, src)
	return g
}

// receiveAllocs covers every receive scenario: plain 64 B and 1 KiB,
// with acks requested, and with connection state recovery on.
func (f figures) receiveAllocs() goal {
	g := goal{text: "≤ 1 allocation per received event (64 B, 1 KiB, acks requested, recovery on)", met: true}
	var parts []string
	for _, suffix := range []string{"64 B", "1 KiB", "64 B" + variantName[floodAck], "64 B" + variantName[floodRecovery]} {
		v, ok := f.get("allocs per event, "+suffix, cSio)
		if !ok {
			g.partly = true
			parts = append(parts, suffix+": —")
			continue
		}
		g.measured = true
		g.met = g.met && v <= 1+allocSlack
		parts = append(parts, fmt.Sprintf("%s: %.3f", suffix, v))
	}
	g.figure = strings.Join(parts, "; ")
	return g
}

func (f figures) emitVsZishang(scenario string) goal {
	g := goal{text: scenario + " ≥ 3× zishang520", figure: "—"}
	sio, ok1 := f.get(scenario, cSio)
	zs, ok2 := f.get(scenario, cZS)
	if !ok1 || !ok2 || zs == 0 {
		return g
	}
	r := sio / zs
	g.measured, g.met = true, r >= 3
	g.figure = fmt.Sprintf("%.2f× zishang520 (%s vs %s events/s)", r, formatValue(sio, "events/s"), formatValue(zs, "events/s"))
	return g
}

func (f figures) emitAllocs() goal {
	g := goal{text: "≤ 1 allocation per Emit of a small struct", figure: "—"}
	v, ok := f.get("allocs per emit, small struct", cSio)
	if !ok {
		return g
	}
	g.measured, g.met = true, v <= 1+allocSlack
	g.figure = fmt.Sprintf("%.3f", v)
	if zs, ok := f.get("allocs per emit, small struct", cZS); ok {
		g.figure += fmt.Sprintf(" (zishang520: %.3f)", zs)
	}
	return g
}

func (f figures) eventSize() goal {
	g := goal{text: "Event size ≤ 64 B", figure: "—"}
	if v, ok := f.get("Event size", cSio); ok {
		g.measured, g.met = true, v <= 64
		g.figure = fmt.Sprintf("%.0f B", v)
	}
	return g
}

// idle checks siostream's figure per connection against limit (KiB) and
// against every other client that has the figure.
func (f figures) idle(scenario, text string, limit float64) goal {
	g := goal{text: text, figure: "—"}
	sio, ok := f.get(scenario, cSio)
	if !ok {
		return g
	}
	g.measured, g.met = true, sio <= limit
	var peers []string
	for _, c := range []string{cZS, cNode} {
		if v, ok := f.get(scenario, c); ok {
			g.met = g.met && sio < v
			peers = append(peers, fmt.Sprintf("%s %.1f", c, v))
		}
	}
	g.figure = fmt.Sprintf("%.1f KiB", sio)
	if len(peers) > 0 {
		g.figure += " (" + strings.Join(peers, ", ") + ")"
	}
	return g
}
