package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/anxin-care/anxin/drivers/cjt188"
)

// TestCheckAgainstPTY runs `gatewayd check` (the real binary) on a bus of
// two configured water meters, a pseudo-terminal where only one meter
// answers, and a household register that lacks the other: the table says
// which answered and with what, the register mismatch is an error, and the
// exit status is 1.
func TestCheckAgainstPTY(t *testing.T) {
	need(t, "cjt188")
	port := waterMeterOnPTY(t, "00000000000001", 42.5)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
household: hh-0001
drivers:
  - driver: cjt188
    name: water
    port: {path: %q}
    meters: [{address: "00000000000001", device: wm1}, {address: "00000000000002", device: wm2}]
    timeout: 300ms
`, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	register := filepath.Join(dir, "households.yaml")
	if err := os.WriteFile(register, []byte(`
households:
  - id: hh-0001
    devices: [{id: wm1, kind: water_meter}, {id: btn3, kind: call_button}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gatewaydBinary(t), "check", "-config", cfgPath, "-households", register, "-wait", "2s")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	t.Logf("gatewayd check:\n%s", out)
	for _, want := range []string{
		"配置无误：" + cfgPath + "（住户 hh-0001，1 路驱动）",
		"登记不符：设备 wm2（驱动 water）没有登记在住户 hh-0001 下",
		"登记提示：已登记的设备 btn3（call_button）在这里没有驱动读取",
		// the Mandarin header is two columns wide a character, and aligned so
		"名称   驱动    串口", "\nwater  cjt188  " + port,
		"  wm1   正常  battery_low=false total_m3=42.5 valve_open=true",
		"  wm2   无应答  2 秒内没有应答（no answer within 2s）",
		"检查未通过：有设备没有应答，或与登记表不符",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// waterMeterOnPTY plays a CJ/T 188 meter at addr on a pseudo-terminal until
// the test ends, and returns the path gatewayd opens.
func waterMeterOnPTY(t *testing.T, addr string, total float64) string {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	wm, err := cjt188.NewSimulator(addr)
	if err != nil {
		t.Fatal(err)
	}
	wm.SetTotal(total)
	go wm.Serve(t.Context(), master) // ends when the master is closed
	return slave.Name()
}
