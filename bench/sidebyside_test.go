package bench

// BenchmarkTelemetryReadersSideBySide is the telemetry comparison with
// the emulator in a process of its own: the test binary starts itself as
// the hub (pinned to CPU 0 with taskset when the machine has it), which
// preloads the events, then, round after round, as each reader in turn —
// this SDK's Processor, azeventhubs' Processor, a bare go-amqp loop —
// pinned to CPU 1. Each reader's events/s is its own reading time; its
// CPU is the whole child process's user and system time (getrusage, as
// the kernel accounts it), so it counts only the client. The readers take
// turns in a new order each round, so that drift of the machine spreads
// over all of them; the report has min / median / max of each figure and
// the ratios per round:
//
//	cd bench && go test -run '^$' -bench SideBySide -benchtime 1x -v
//
// IOTHUB_BENCH_ROUNDS sets the rounds (default 5; -short: 2 rounds of
// 20,000 events); IOTHUB_BENCH_CPUPROFILE=/tmp/x makes each reader write
// its CPU profile to /tmp/x.<reader>.pprof (the last round's stays), for
// go tool pprof.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotkit-go/iothub/emulator"
)

// The roles the test binary plays for the side-by-side harness, and what
// it is told through its environment.
const (
	envRole    = "IOTHUB_BENCH_ROLE"   // "hub" or "reader"
	envEvents  = "IOTHUB_BENCH_EVENTS" // hub: how many events to preload
	envTarget  = "IOTHUB_BENCH_TARGET" // reader: the hub, as JSON
	envReader  = "IOTHUB_BENCH_READER" // reader: which one
	envRounds  = "IOTHUB_BENCH_ROUNDS"
	envProfile = "IOTHUB_BENCH_CPUPROFILE" // reader: write a CPU profile to <this>.<reader>.pprof
	hubReady   = "READY "
	readerDone = "DONE "
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "hub":
		os.Exit(runHub())
	case "reader":
		os.Exit(runReader())
	}
	os.Exit(m.Run())
}

// runHub starts an emulator, preloads the events, prints READY and the
// hub as JSON, and serves until its stdin closes.
func runHub() int {
	n, err := strconv.Atoi(os.Getenv(envEvents))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub:", envEvents, err)
		return 2
	}
	ids := benchDeviceIDs()
	seeds := make([]emulator.DeviceSeed, len(ids))
	for i, id := range ids {
		seeds[i] = emulator.DeviceSeed{DeviceID: id}
	}
	e, err := emulator.Start(context.Background(), &emulator.Options{Partitions: benchPartitions, Devices: seeds})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 1
	}
	defer e.Close()
	devices := make([]*emulator.SimulatedDevice, len(ids))
	for i, id := range ids {
		if devices[i], err = e.Device(id); err == nil {
			err = devices[i].Connect(context.Background())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "hub:", err)
			return 1
		}
	}
	if err := fill(devices, n); err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 1
	}
	h, err := targetOf(e, n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hub:", err)
		return 1
	}
	b, _ := json.Marshal(h)
	fmt.Println(hubReady + string(b))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// runReader reads every event of the hub once with the reader named in
// its environment and prints DONE and how long that took, in ns.
func runReader() int {
	var h benchHub
	if err := json.Unmarshal([]byte(os.Getenv(envTarget)), &h); err != nil {
		fmt.Fprintln(os.Stderr, "reader:", envTarget, err)
		return 2
	}
	i := slices.IndexFunc(telemetryReaders, func(r telemetryReader) bool { return r.name == os.Getenv(envReader) })
	if i < 0 {
		fmt.Fprintln(os.Stderr, "reader: no reader named", os.Getenv(envReader))
		return 2
	}
	if prefix := os.Getenv(envProfile); prefix != "" {
		f, err := os.Create(prefix + "." + telemetryReaders[i].name + ".pprof")
		if err != nil {
			fmt.Fprintln(os.Stderr, "reader:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "reader:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	if err := telemetryReaders[i].read(ctx, &h); err != nil {
		fmt.Fprintln(os.Stderr, "reader:", err)
		return 1
	}
	fmt.Println(readerDone + strconv.FormatInt(time.Since(began).Nanoseconds(), 10))
	return 0
}

// pinned is the command that runs exe pinned to cpu, when taskset is
// there.
func pinned(cpu string, exe string) *exec.Cmd {
	if path, err := exec.LookPath("taskset"); err == nil {
		return exec.Command(path, "-c", cpu, exe, "-test.run=^$")
	}
	return exec.Command(exe, "-test.run=^$")
}

// sideReaders are the readers compared, in the harness.
var sideReaders = []string{"ours", "azeventhubs", "bare-go-amqp"}

// sample is one reader's run.
type sample struct {
	eventsPerSec float64
	cpuPer100k   float64 // CPU seconds (user + system) per 100,000 events
}

func BenchmarkTelemetryReadersSideBySide(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	if v := os.Getenv(envRounds); v != "" {
		if rounds, err = strconv.Atoi(v); err != nil || rounds < 1 {
			b.Fatalf("%s=%q: a number of rounds", envRounds, v)
		}
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Log("taskset is not installed: hub and readers run unpinned")
	}
	events := benchEventCount()

	hub := pinned("0", exe)
	hub.Env = append(os.Environ(), envRole+"=hub", envEvents+"="+strconv.Itoa(events))
	hub.Stderr = os.Stderr
	stdin, err := hub.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := hub.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := hub.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); _ = hub.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	target, ok := strings.CutPrefix(strings.TrimSpace(line), hubReady)
	if err != nil || !ok {
		b.Fatalf("the hub did not get ready: %q %v", line, err)
	}

	run := func(reader string) sample {
		cmd := pinned("1", exe)
		cmd.Env = append(os.Environ(), envRole+"=reader", envReader+"="+reader, envTarget+"="+target)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%s: %v", reader, err)
		}
		ns, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(string(out)), readerDone), 10, 64)
		if err != nil {
			b.Fatalf("%s printed %q", reader, out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		return sample{eventsPerSec: float64(events) / time.Duration(ns).Seconds(), cpuPer100k: cpu / float64(events) * 1e5}
	}
	run("bare-go-amqp") // warm the hub up, untimed

	b.ResetTimer()
	got := map[string][]sample{}
	var speedRatios, cpuRatios []float64 // per round: ours / azeventhubs events/s, ours / bare CPU per event
	for round := range rounds {
		this := map[string]sample{}
		for i := range sideReaders {
			r := sideReaders[(i+round)%len(sideReaders)]
			this[r] = run(r)
			got[r] = append(got[r], this[r])
		}
		speedRatios = append(speedRatios, this["ours"].eventsPerSec/this["azeventhubs"].eventsPerSec)
		cpuRatios = append(cpuRatios, this["ours"].cpuPer100k/this["bare-go-amqp"].cpuPer100k)
		b.Logf("round %d: %s", round+1, roundLine(this))
	}
	b.StopTimer()

	b.Logf("%d rounds of %d events, min – median – max:", rounds, events)
	for _, r := range sideReaders {
		speed, cpu := figures(got[r], func(s sample) float64 { return s.eventsPerSec }), figures(got[r], func(s sample) float64 { return s.cpuPer100k })
		b.Logf("  %-13s %8.0f – %8.0f – %8.0f events/s   %.3f – %.3f – %.3f CPU-s per 100k events", r, speed[0], speed[1], speed[2], cpu[0], cpu[1], cpu[2])
		b.ReportMetric(speed[1], r+"-events/s")
		b.ReportMetric(cpu[1], r+"-cpu-s/100k")
	}
	sr, cr := minMedMax(speedRatios), minMedMax(cpuRatios)
	b.Logf("  ours / azeventhubs events/s: %.2f – %.2f – %.2f;  ours / bare CPU per event: %.2f – %.2f – %.2f", sr[0], sr[1], sr[2], cr[0], cr[1], cr[2])
	b.ReportMetric(sr[1], "ours/azeventhubs-speed")
	b.ReportMetric(cr[1], "ours/bare-cpu")
}

func roundLine(s map[string]sample) string {
	var parts []string
	for _, r := range sideReaders {
		parts = append(parts, fmt.Sprintf("%s %.0f events/s %.3f CPU-s/100k", r, s[r].eventsPerSec, s[r].cpuPer100k))
	}
	return strings.Join(parts, "; ")
}

// figures is minMedMax of one figure of samples.
func figures(samples []sample, of func(sample) float64) [3]float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = of(s)
	}
	return minMedMax(v)
}

// minMedMax returns the minimum, the median and the maximum of v.
func minMedMax(v []float64) [3]float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return [3]float64{s[0], med, s[len(s)-1]}
}
