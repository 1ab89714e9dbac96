package main

import (
	"context"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/web"
)

// Demo web app sign-ins (loopback only; not secrets).
const (
	DemoWorker   = "demo-worker"
	DemoOperator = "demo-ops"
	DemoPassword = "anxin-demo-pass"
)

// demoWeb registers the demo household's elder in 善广乡安宁村 (so the
// worker's due list has her) and the two demo accounts of that village.
func demoWeb(ctx context.Context, db anxin.Store, now time.Time) error {
	if _, err := db.Elder(ctx, "e-demo-1"); err != nil {
		e := anxin.ElderRecord{ID: "e-demo-1", Household: Household, Name: "张桂兰", IDNumber: "53012819400506001" + "X",
			Phone: "+8613800000000", Current: anxin.Address{County: "忠县", Township: "善广乡", Village: "安宁村", Detail: "3组12号"},
			Categories: []anxin.Category{"独居"}, Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "中度失能", Health: "正常"},
			Contacts: []anxin.Contact{{Name: "李明", Relation: "child", Phone: "+8613900000001"}}, GridWorker: "王芳", Consent: true,
			CreatedAt: now, UpdatedAt: now}
		s := e.IDNumber[:17]
		e.IDNumber = s + string(care.CheckDigit(s))
		if errs := care.Normalize(&e, now); len(errs) > 0 {
			return anxin.Errorf(anxin.EINVALID, "demo elder: %v", errs)
		}
		if err := db.PutElder(ctx, &e); err != nil {
			return err
		}
	}
	if err := web.PutAccount(ctx, db, DemoWorker, "王芳", "善广乡/安宁村", web.RoleWorker, DemoPassword, now); err != nil {
		return err
	}
	return web.PutAccount(ctx, db, DemoOperator, "值班员", "", web.RoleOperator, DemoPassword, now)
}
