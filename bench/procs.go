package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// procGroup is the processes one benchmark target runs on: started
// together, measured together (CPU) and stopped together (Close).
type procGroup struct {
	procs  []*exec.Cmd
	exited []chan error
	logs   []string
}

// start runs bin with args; its stdout and stderr go to logPath.
func (g *procGroup) start(bin string, args []string, logPath string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("bench: start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		_ = logFile.Close()
	}()
	g.procs = append(g.procs, cmd)
	g.exited = append(g.exited, exited)
	g.logs = append(g.logs, logPath)
	return nil
}

// alive returns an error naming the first process that has exited, and its
// log.
func (g *procGroup) alive() error {
	for i, ch := range g.exited {
		select {
		case err := <-ch:
			ch <- err // keep it for Close
			return fmt.Errorf("bench: %s exited (%v); see %s", g.procs[i].Path, err, g.logs[i])
		default:
		}
	}
	return nil
}

// CPU returns the CPU time the processes have used so far.
func (g *procGroup) CPU() time.Duration {
	var total time.Duration
	for _, p := range g.procs {
		total += procCPU(p.Process.Pid)
	}
	return total
}

// Close interrupts the processes (SIGINT, which every program measured
// here takes as a request to shut down), then kills those still running
// after 10 s. It returns their exit errors.
func (g *procGroup) Close() error {
	var errs []error
	for i, p := range g.procs {
		_ = p.Process.Signal(os.Interrupt)
		select {
		case err := <-g.exited[i]:
			errs = append(errs, err)
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			errs = append(errs, <-g.exited[i])
		}
	}
	g.procs, g.exited, g.logs = nil, nil, nil
	return errors.Join(errs...)
}
