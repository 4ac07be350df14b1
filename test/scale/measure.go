package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// apiCounts are the operator's API requests over one run, from the API
// server's audit log (the policy logs the operator's user alone).
type apiCounts struct {
	ByVerb       map[string]int
	Writes       int // create, update, patch, delete
	StatusWrites int // update or patch of indexbuilds/status
	Conflicts    int // responses 409
}

// auditEvent is the part of an audit.k8s.io/v1 Event the harness reads.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}

// countAudit counts user's requests in an audit log: each request once, at
// ResponseComplete, except watches, counted when their response starts
// (they complete only when they end).
func countAudit(r io.Reader, user string) (apiCounts, error) {
	counts := apiCounts{ByVerb: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return apiCounts{}, fmt.Errorf("audit log: %w", err)
		}
		if e.User.Username != user {
			continue
		}
		counted := e.Stage == "ResponseComplete" && e.Verb != "watch" || e.Stage == "ResponseStarted" && e.Verb == "watch"
		if !counted {
			continue
		}
		counts.ByVerb[e.Verb]++
		if writeVerbs[e.Verb] {
			counts.Writes++
			if e.ObjectRef != nil && e.ObjectRef.Resource == "indexbuilds" && e.ObjectRef.Subresource == "status" {
				counts.StatusWrites++
			}
		}
		if e.ResponseStatus != nil && e.ResponseStatus.Code == http.StatusConflict {
			counts.Conflicts++
		}
	}
	return counts, sc.Err()
}

func countAuditFile(path, user string) (apiCounts, error) {
	f, err := os.Open(path)
	if err != nil {
		return apiCounts{}, err
	}
	defer f.Close()
	return countAudit(f, user)
}

// scrapeMetrics reads a Prometheus text endpoint.
func scrapeMetrics(url string) (map[string]*dto.MetricFamily, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// sumCounter adds up a counter's series whose labels include match.
func sumCounter(families map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range match {
			if labels[k] != v {
				ok = false
			}
		}
		if ok && m.GetCounter() != nil {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// procUsage is a process's peak resident memory and CPU time so far.
type procUsage struct {
	PeakRSSBytes int64
	CPUSeconds   float64
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

func readProcUsage(pid int) (procUsage, error) {
	var u procUsage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return u, fmt.Errorf("VmHWM: %w", err)
			}
			u.PeakRSSBytes = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	cpu, err := parseStatCPU(string(stat))
	if err != nil {
		return u, err
	}
	u.CPUSeconds = cpu
	return u, nil
}

// parseHostCPU reads the machine's busy and total jiffies from the "cpu"
// line of /proc/stat: user to steal (guest time is counted in user
// already); idle and iowait are not busy.
func parseHostCPU(stat string) (busy, all uint64, err error) {
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "cpu" {
			continue
		}
		for i, v := range f[1:min(len(f), 9)] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/stat cpu field %d: %w", i+1, err)
			}
			all += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, all, nil
	}
	return 0, 0, errors.New("no cpu line in /proc/stat")
}

// parseStatCPU reads utime+stime from /proc/<pid>/stat. The command name
// (field 2) may hold spaces, so fields are counted after its closing ")".
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat: %q", stat)
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat: %q", stat)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat: %q", stat)
	}
	return float64(utime+stime) / clockTicks, nil
}

// lagTracker measures how far an IndexBuild's status.partitions.succeeded
// trails its build Job's completed indexes: each count the Job reaches is
// timed until the IndexBuild shows at least as many.
type lagTracker struct {
	mu      sync.Mutex
	pending map[string][]progressMark // build → Job counts not yet shown
	shown   map[string]int32
	lags    []time.Duration
}

type progressMark struct {
	count int32
	at    time.Time
}

func newLagTracker() *lagTracker {
	return &lagTracker{pending: map[string][]progressMark{}, shown: map[string]int32{}}
}

// jobProgress records that build's Job has count partitions done at t.
func (l *lagTracker) jobProgress(build string, count int32, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if count <= l.shown[build] {
		return
	}
	marks := l.pending[build]
	if len(marks) > 0 && marks[len(marks)-1].count >= count {
		return
	}
	l.pending[build] = append(marks, progressMark{count, t})
}

// statusProgress records that build's status shows count partitions at t.
func (l *lagTracker) statusProgress(build string, count int32, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if count > l.shown[build] {
		l.shown[build] = count
	}
	marks := l.pending[build]
	i := 0
	for ; i < len(marks) && marks[i].count <= count; i++ {
		l.lags = append(l.lags, t.Sub(marks[i].at))
	}
	l.pending[build] = marks[i:]
}

// quantile of the lags seen, 0 when none.
func (l *lagTracker) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lags) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l.lags...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}
