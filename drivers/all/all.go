// Package all links every driver into gatewayd: each blank import registers
// one driver plugin from its init function.
package all

import (
	_ "github.com/anxin-care/anxin/drivers/cjt188"
	_ "github.com/anxin-care/anxin/drivers/dlt645"
	_ "github.com/anxin-care/anxin/drivers/jsonmap"
	_ "github.com/anxin-care/anxin/drivers/jt808"
	_ "github.com/anxin-care/anxin/drivers/modbus"
	_ "github.com/anxin-care/anxin/drivers/nmea"
	_ "github.com/anxin-care/anxin/drivers/rf433"
	_ "github.com/anxin-care/anxin/drivers/tasmota"
	_ "github.com/anxin-care/anxin/drivers/watch3g"
	_ "github.com/anxin-care/anxin/drivers/zigbee2mqtt"
)
