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

// Earlier reference figures, used when socket.io-client could not run here.
const earlierNodeReceive = 463_000

// goals says where siostream stands against its targets.
func goals(rows []row) string {
	find := func(scenario, client string) (row, bool) {
		for _, r := range rows {
			if r.Scenario == scenario && r.Client == client {
				return r, true
			}
		}
		return row{}, false
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	var b strings.Builder
	b.WriteString("Goals:\n")
	if sio, ok := find("receive 64 B", cSio); ok {
		if fl, ok := find("receive 64 B", cFloor); ok {
			r := sio.Value / fl.Value
			fmt.Fprintf(&b, "- receive ≥ 50 %% of the floor: %s (%.1f %%)\n", verdict(r >= 0.5), 100*r)
		}
		nodeV, src := float64(earlierNodeReceive), "the 463k measured earlier"
		if n, ok := find("receive 64 B", cNode); ok {
			nodeV, src = n.Value, "this run"
		}
		r := sio.Value / nodeV
		fmt.Fprintf(&b, "- receive ≥ 10× socket.io-client: %s (%.1f×, %s)\n", verdict(r >= 10), r, src)
	}
	for _, size := range []string{"64 B", "1 KiB"} {
		if a, ok := find("allocs per event, "+size, cSio); ok {
			// The run's fixed cost (dial, the start emit) adds a few
			// allocations in all, well under 0.01 per event.
			fmt.Fprintf(&b, "- ≤ 1 allocation per received event (%s): %s (%.3f)\n", size, verdict(a.Value < 1.01), a.Value)
		}
	}
	if m, ok := find("idle RSS per connection", cSio); ok {
		fmt.Fprintf(&b, "- ≤ 10 KiB per idle stream (%s): %s (%.1f KiB)\n", m.Note, verdict(m.Value <= 10), m.Value)
	}
	for _, where := range []string{"Go echo server", "Node socket.io server"} {
		sio, ok1 := find("ack RTT p99, "+where, cSio)
		node, ok2 := find("ack RTT p99, "+where, cNode)
		if ok1 && ok2 {
			fmt.Fprintf(&b, "- ack p99 no worse than socket.io-client (%s): %s (%.1f µs vs %.1f µs)\n",
				where, verdict(sio.Value <= node.Value), sio.Value, node.Value)
		}
	}
	return b.String()
}
