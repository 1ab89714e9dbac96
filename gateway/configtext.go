package gateway

import (
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/internal/configerr"
)

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
	return configerr.Text(err, stageLead.For(stage), configerr.Hints{Key: hints, Driver: driverHints, Reason: reasons})
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

// reasons word the problems no configerr kind says, by their Reason
// (drivers.ErrorReasons): what is wrong and what to write. A broker URL
// is never quoted before them (it may hold a password), nor a terminal's
// id unmasked.
var reasons = map[string]string{
	drivers.ReasonListen:          "不是监听地址：写成 \"{range}\" 这样（带英文引号和冒号），冒号后的端口号要与设备里设置的服务器端口一致；冒号前可写本机地址，一般不写",
	drivers.ReasonMetricsListen:   "不是监听地址：写成 \"127.0.0.1:9108\" 这样（带英文引号），冒号前是本机地址，冒号后是端口号；不用监控时删掉这一项",
	drivers.ReasonTerminalJT808:   "不是终端手机号：只写数字（设备里设置的 SIM 卡号），最多 20 位，不能有字母、空格或减号（常把数字 0 错写成字母 O），数字要用英文输入法写的半角数字，不能是全角的 １２３；为保护隐私这里只显示后 4 位",
	drivers.ReasonTerminalWatch3g: "不是手表编号：只写英文字母和数字（手表上报的 ID，通常是 IMEI 的后 10 位，用英文输入法写，不能是全角的 １２３），最多 20 位；为保护隐私这里只显示后 4 位",
	drivers.ReasonTerminalSame:    "和前面一个终端是同一个编号（编号前面的 0 不算），删掉其中一行；为保护隐私这里只显示后 4 位",
	drivers.ReasonBrokerURL:       "不是 MQTT 服务器地址：写成 tcp://127.0.0.1:1883 这样，以 tcp://（加密时 ssl://）开头，后面是主机名、冒号和端口",
	drivers.ReasonBrokerScheme:    "地址开头的协议不对：只能是 tcp://、mqtt://、ssl://、tls://、mqtts://、ws:// 或 wss://，如 tcp://127.0.0.1:1883",
	drivers.ReasonBrokerUserinfo:  "地址里不能写用户名和密码：地址只写成 tcp://127.0.0.1:1883 这样，用户名写在 username 项，密码写在 password 或 password_file 项",
	drivers.ReasonClientID:        "客户端编号最多 128 个字节（一个汉字算 3 个），不能含 /、+、#；一般不用写",
	drivers.ReasonTopicFilter:     "不是有效的 MQTT 主题：不能为空，+ 和 # 只能单独占一级（两边是 /），# 只能在最后，如 tele/+/RESULT",
	drivers.ReasonTopicCapture:    "主题里的 {名字} 写法不对：花括号要占一整级（两边是 /），名字只用英文字母、数字和下划线，如 vendor/{device}/up",
	drivers.ReasonDeviceTemplate:  "设备编号的写法不对：只用英文字母、数字、_ 和 -，可以带上主题里的 {名字}（如 tracker-{imei}），花括号要成对，名字要在 topic 里出现",
	drivers.ReasonJSONPath:        "不是数据路径：以 $ 开头，一级一级用点隔开，列表用 [序号]，如 $.gps.lat、$.data[0].v",
	drivers.ReasonScaleBoolean:    "这是开关量（true/false），不能写倍数：从 scale 里删掉它",
	drivers.ReasonScaleNumber:     "倍数要写不为 0 的数，如 0.001（升换算成立方米）",
	drivers.ReasonBaseTopic:       "主题前缀不能含 + 或 #，也不能以 / 开头或结尾，一般就写 zigbee2mqtt",
	drivers.ReasonZigbeeName:      "要写 zigbee2mqtt 里的设备名（friendly_name）或 IEEE 地址（如 0x847127fffe0542eb），不能含 + 或 #，最长 256 个字节（一个汉字算 3 个）",
	drivers.ReasonZigbeeSubtopic:  "设备名不能以 /availability、/action、/set、/get 结尾，也不能是 bridge 或以 bridge/ 开头（zigbee2mqtt 的这些主题另有用处）：在 zigbee2mqtt 里给设备改个名字",
	drivers.ReasonZigbeeReset:     "空的 action 是按键复位，不能对应事件：删掉这一行",
	drivers.ReasonReservedDevice:  "gateway 是网关自己的状态用的编号，换一个名字",
	drivers.ReasonUSBID:           "要写 4 位十六进制数，如 vid: \"1a86\"、pid: \"7523\"（插上转换线后用 lsusb 查看：ID 后面冒号前是 vid，冒号后是 pid），加上引号",
	drivers.ReasonWaterAddress:    "水表地址要写 14 位数字，照表上铭牌抄，加上引号（A 表示通配）",
	drivers.ReasonPowerAddress:    "电表地址要写 12 位数字，照表上铭牌抄，加上引号（A 表示通配）",
	drivers.ReasonMeterType:       "表类型要写两位十六进制数，加上引号，冷水表写 \"10\"（照水表说明书）",
	drivers.ReasonRFCode:          "不是遥控码：写 1 到 6 位十六进制数（0-9、a-f），加上英文引号，如 \"8d3cf6\" 或 \"0x7028D5\"，即学习时接收器显示的码",
	drivers.ReasonTLSNoPEM:        "这个文件里没有 PEM 格式的证书（以 -----BEGIN CERTIFICATE----- 开头的文本）：核对是不是给错了文件",
	drivers.ReasonTLSKeyPair:      "证书和私钥读不出来或不配对：cert_file 写证书，key_file 写与它配对的私钥，都是 PEM 格式的文件",
}
