package main

import (
	"errors"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// writeChart draws receive throughput per client, one bar per payload
// size, in millions of events per second.
func writeChart(path string, rows []row) error {
	clients := []string{cFloor, cSio, cZS, cNode}
	sizes := []struct {
		scenario string
		fill     color.Color
	}{
		{"receive 64 B", color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff}},
		{"receive 1 KiB", color.RGBA{R: 0xe0, G: 0x8a, B: 0x1e, A: 0xff}},
	}
	value := func(scenario, client string) (float64, bool) {
		for _, r := range rows {
			if r.Scenario == scenario && r.Client == client {
				return r.Value / 1e6, true
			}
		}
		return 0, false
	}
	var present []string
	for _, c := range clients {
		if _, ok := value(sizes[0].scenario, c); ok {
			present = append(present, c)
		}
	}
	if len(present) == 0 {
		return errors.New("chart: no receive results")
	}

	p := plot.New()
	p.Title.Text = "Receive throughput (loopback, 2 cores)"
	p.Y.Label.Text = "million events per second"
	p.Y.Min = 0
	w := vg.Points(28)
	for i, sz := range sizes {
		vals := make(plotter.Values, len(present))
		labels := plotter.XYLabels{XYs: make(plotter.XYs, len(present)), Labels: make([]string, len(present))}
		for j, c := range present {
			v, _ := value(sz.scenario, c)
			vals[j] = v
			labels.XYs[j] = plotter.XY{X: float64(j), Y: v}
			labels.Labels[j] = formatMillions(v)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color = sz.fill
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(i)-0.5) * w
		p.Add(bars)
		p.Legend.Add(sz.scenario[len("receive "):]+" payload", bars)

		lbl, err := plotter.NewLabels(labels)
		if err != nil {
			return err
		}
		for k := range lbl.TextStyle {
			lbl.TextStyle[k].XAlign = text.XCenter
			lbl.TextStyle[k].YAlign = text.YBottom
			lbl.TextStyle[k].Font.Size = vg.Points(8)
		}
		lbl.Offset = vg.Point{X: bars.Offset, Y: vg.Points(2)}
		p.Add(lbl)
	}
	top := 0.0
	for _, r := range rows {
		if r.Unit == "events/s" && (r.Scenario == sizes[0].scenario || r.Scenario == sizes[1].scenario) {
			top = max(top, r.Value/1e6)
		}
	}
	p.Y.Max = top * 1.15
	p.Legend.Top = true
	p.NominalX(present...)
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}

func formatMillions(v float64) string {
	switch {
	case v >= 10:
		return fmt.Sprintf("%.1fM", v)
	case v >= 1:
		return fmt.Sprintf("%.2fM", v)
	}
	return fmt.Sprintf("%.0fk", v*1000)
}
