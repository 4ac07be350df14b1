package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// verbs in the order the table prints them.
var verbs = []string{"get", "list", "watch", "create", "patch", "update", "delete"}

// row is one size's measurements, per build where it says so.
type row struct {
	Size            size
	Operator, Floor time.Duration
	WritesPerBuild  float64
	StatusPerBuild  float64
	ReadsPerBuild   float64
	ReconcilesPer   float64
	ConflictPct     float64
	PeakRSSMiB      float64
	CPUPer1000      float64
	LagP50, LagMax  time.Duration
	// CPU used in the operator run and in the floor run.
	CPU, FloorCPU cpuUse
	VerbPerBuild  map[string]float64
	TotalRequests int
}

func newRow(sz size, op *operatorResult, floor floorResult) row {
	n := float64(sz.N)
	r := row{Size: sz, Operator: op.Wall, Floor: floor.Wall, VerbPerBuild: map[string]float64{},
		CPU: op.CPU, FloorCPU: floor.CPU}
	total := 0
	for v, c := range op.API.ByVerb {
		r.VerbPerBuild[v] = float64(c) / n
		total += c
	}
	r.TotalRequests = total
	r.WritesPerBuild = float64(op.API.Writes) / n
	r.StatusPerBuild = float64(op.API.StatusWrites) / n
	r.ReadsPerBuild = float64(total-op.API.Writes) / n
	r.ReconcilesPer = op.Reconciles / n
	if op.API.Writes > 0 {
		r.ConflictPct = 100 * float64(op.API.Conflicts) / float64(op.API.Writes)
	}
	r.PeakRSSMiB = float64(op.Usage.PeakRSSBytes) / (1 << 20)
	r.CPUPer1000 = op.Usage.CPUSeconds * 1000 / n
	r.LagP50, r.LagMax = op.LagP50, op.LagMax
	return r
}

func (r row) ratio() float64 { return r.Operator.Seconds() / r.Floor.Seconds() }

func (r row) summary() string {
	return fmt.Sprintf("%s: operator %.1fs, floor %.1fs (%.2fx), %.1f writes/build, peak RSS %.0f MiB",
		r.Size, r.Operator.Seconds(), r.Floor.Seconds(), r.ratio(), r.WritesPerBuild, r.PeakRSSMiB)
}

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N x P\toperator s\tbare Jobs s\tratio\twrites/build\tstatus writes/build\treads/build\treconciles/build\t409s % of writes\tpeak RSS MiB\tCPU s/1000 builds\tstatus lag p50 s\tstatus lag max s\tAPI server CPU s\tbare Jobs API server CPU s\tmachine busy %\tbare Jobs machine busy %\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t\n",
			r.Size, r.Operator.Seconds(), r.Floor.Seconds(), r.ratio(), r.WritesPerBuild, r.StatusPerBuild,
			r.ReadsPerBuild, r.ReconcilesPer, r.ConflictPct, r.PeakRSSMiB, r.CPUPer1000, r.LagP50.Seconds(), r.LagMax.Seconds(),
			r.CPU.APIServerSeconds, r.FloorCPU.APIServerSeconds, r.CPU.HostBusyPercent, r.FloorCPU.HostBusyPercent)
	}
	tw.Flush()

	fmt.Fprintln(w, "\noperator API requests per build, by verb (API server audit log)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N x P\t"+strings.Join(verbs, "\t")+"\tall\t")
	for _, r := range rows {
		cells := []string{r.Size.String()}
		for _, v := range verbs {
			cells = append(cells, fmt.Sprintf("%.2f", r.VerbPerBuild[v]))
		}
		cells = append(cells, fmt.Sprintf("%.1f", float64(r.TotalRequests)/float64(r.Size.N)))
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()

	if g := growth(rows); len(g) > 0 {
		fmt.Fprintln(w, "\ngrowth from the smallest to the largest N at the same P (value at largest / value at smallest)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "P\tN\tbuilds\toperator s\tbare Jobs s\tratio\twrites/build\treads/build\treconciles/build\tpeak RSS\tCPU s/1000 builds\t")
		for _, l := range g {
			a, b := l[0], l[1]
			fmt.Fprintf(tw, "%d\t%d→%d\t×%.1f\t×%.2f\t×%.2f\t×%.2f\t×%.2f\t×%.2f\t×%.2f\t×%.2f\t×%.2f\t\n",
				a.Size.P, a.Size.N, b.Size.N, float64(b.Size.N)/float64(a.Size.N),
				div(b.Operator.Seconds(), a.Operator.Seconds()), div(b.Floor.Seconds(), a.Floor.Seconds()), div(b.ratio(), a.ratio()),
				div(b.WritesPerBuild, a.WritesPerBuild), div(b.ReadsPerBuild, a.ReadsPerBuild), div(b.ReconcilesPer, a.ReconcilesPer),
				div(b.PeakRSSMiB, a.PeakRSSMiB), div(b.CPUPer1000, a.CPUPer1000))
		}
		tw.Flush()
	}
}

// growth pairs, per P with more than one N, the smallest and largest N.
func growth(rows []row) [][2]row {
	byP := map[int][]row{}
	for _, r := range rows {
		byP[r.Size.P] = append(byP[r.Size.P], r)
	}
	var ps []int
	for p := range byP {
		ps = append(ps, p)
	}
	sort.Ints(ps)
	var out [][2]row
	for _, p := range ps {
		rs := byP[p]
		sort.Slice(rs, func(i, j int) bool { return rs[i].Size.N < rs[j].Size.N })
		if rs[0].Size.N != rs[len(rs)-1].Size.N {
			out = append(out, [2]row{rs[0], rs[len(rs)-1]})
		}
	}
	return out
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
