package gateway

import "github.com/anxin-care/anxin/internal/configerr"

// ConfigStage is what a bad configuration stopped: it starts the Mandarin
// text.
type ConfigStage = configerr.Stage

// Where a configuration error was met.
const (
	AtStart  = configerr.AtStart  // gatewayd did not start
	AtCheck  = configerr.AtCheck  // gatewayd check did not run
	AtReload = configerr.AtReload // SIGHUP: the running config is kept
)

var stageLead = configerr.Leads{
	AtStart:  "配置有误，网关未启动：",
	AtCheck:  "配置有误，没有进行检查：",
	AtReload: "配置有误，没有重新加载，网关继续按原来的配置运行：",
}

// ConfigErrorText explains a configuration error to an installer in
// Mandarin, in one line (configerr.Text), with the hints of gatewayd's keys.
func ConfigErrorText(err error, stage ConfigStage) string {
	return configerr.Text(err, stageLead.For(stage), configerr.Hints{Key: hints, Driver: driverHints})
}

// hints explain keys an installer edits most, by the key's last part.
var hints = map[string]string{
	"household":  "（住户编号，如 hh-0001，照区里的登记表写）",
	"path":       "（串口，如 /dev/ttyUSB0；或不写 path，改写 usb: {vid: \"1a86\", pid: \"7523\"}）",
	"port":       "（串口：写 path，如 /dev/ttyUSB0，或写 usb 的 vid 和 pid）",
	"baud":       "（波特率：水表常用 2400，Modbus 常用 9600）",
	"meters":     "（至少要写一块表：address 照铭牌抄，device 写设备编号）",
	"address":    "（照表上铭牌的地址抄：水表 14 位、电表 12 位数字）",
	"device":     "（设备编号，与住户登记表一致）",
	"dir":        "（如 /var/lib/anxin/spool）",
	"listen":     "（监听地址：写成 :8808 或 0.0.0.0:8808 这样，冒号后面是端口号）",
	"broker":     "（MQTT 服务器地址，写成 tcp://127.0.0.1:1883 这样；用户名和密码写在 username、password 两项，不写进地址）",
	"topics":     "（要订阅的 MQTT 主题，至少写一个，如 tele/+/RESULT）",
	"topic":      "（MQTT 主题，如 vendor/{device}/up：+ 和 # 只能单独占一级，# 只能在最后）",
	"base_topic": "（zigbee2mqtt 的主题前缀，与 zigbee2mqtt 配置里的 mqtt.base_topic 一致，一般就是 zigbee2mqtt）",
	"mappings":   "（至少写一条：topic 写主题，fields 写要读的数据）",
	"fields":     "（要读的数据，如 lat: \"$.gps.lat\"；只报事件时改写 events）",
	"registers":  "（要读的寄存器，照设备说明书的寄存器表写；接的是探测器时改写 discrete_inputs）",
	"register":   "（寄存器地址，从 0 开始编号：说明书写的是 40001、30001 这样的编号时，填它减去 40001 或 30001 后的数）",
}

// driverHints explain a key whose meaning depends on the driver.
var driverHints = map[string]map[string]string{
	"jt808":   {"id": "（终端手机号，即设备里设置的 SIM 卡号：只写数字，最多 20 位）"},
	"watch3g": {"id": "（手表编号，手表上报的 ID，通常是 IMEI 的后 10 位：只写英文字母和数字，最多 20 位）"},
}
