// Package aliyun reaches people in China through Alibaba Cloud: SMS with a
// registered signature and template (dysmsapi SendSms), and voice
// notification by text-to-speech call (SingleCallByTts, through
// darabonba-openapi's generic call since the voice SDK module is not served).
// Reports come back by HTTP push (reports.go).
package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	dysms "github.com/alibabacloud-go/dysmsapi-20170525/v5/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/anxin-care/anxin"
)

// Config is one Aliyun account's SMS and voice settings.
type Config struct {
	AccessKeyID      string
	AccessKeySecret  string
	SignName         string // the registered SMS signature (签名)
	SMSTemplate      string // SMS template code; its one variable ${text} gets the step's words
	TTSTemplate      string // voice TTS template code; its one variable ${text} gets the words spoken
	CalledShowNumber string // the voice number the call shows
	// SMSEndpoint and VoiceEndpoint are host[:port]; empty: the public
	// dysmsapi.aliyuncs.com and dyvmsapi.aliyuncs.com. Tests point them at a fake.
	SMSEndpoint   string
	VoiceEndpoint string
	Protocol      string        // https (default) or http (tests)
	Timeout       time.Duration // per request (default 10s)
}

// Notifier sends SMS and TTS calls through Aliyun.
type Notifier struct {
	cfg   Config
	sms   *dysms.Client
	voice *openapi.Client
}

// New checks cfg and builds the clients (no network).
func New(cfg Config) (*Notifier, error) {
	if cfg.AccessKeyID == "" || cfg.AccessKeySecret == "" || cfg.SignName == "" || cfg.SMSTemplate == "" {
		return nil, errors.New("aliyun: access key id and secret, sign name and SMS template are required")
	}
	if cfg.SMSEndpoint == "" {
		cfg.SMSEndpoint = "dysmsapi.aliyuncs.com"
	}
	if cfg.VoiceEndpoint == "" {
		cfg.VoiceEndpoint = "dyvmsapi.aliyuncs.com"
	}
	if cfg.Protocol == "" {
		cfg.Protocol = "https"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	conf := func(endpoint string) *openapiutil.Config {
		ms := int(cfg.Timeout / time.Millisecond)
		return &openapiutil.Config{
			AccessKeyId: dara.String(cfg.AccessKeyID), AccessKeySecret: dara.String(cfg.AccessKeySecret),
			Endpoint: dara.String(endpoint), Protocol: dara.String(cfg.Protocol),
			// "v2" selects the RPC style with signature v1 (HMAC-SHA1 in the query)
			SignatureAlgorithm: dara.String("v2"),
			ReadTimeout:        dara.Int(ms), ConnectTimeout: dara.Int(ms),
		}
	}
	sms, err := dysms.NewClient(conf(cfg.SMSEndpoint))
	if err != nil {
		return nil, fmt.Errorf("aliyun: sms client: %w", err)
	}
	voice, err := openapi.NewClient(conf(cfg.VoiceEndpoint))
	if err != nil {
		return nil, fmt.Errorf("aliyun: voice client: %w", err)
	}
	return &Notifier{cfg: cfg, sms: sms, voice: voice}, nil
}

// runtime disables the SDK's own retries: escalate decides what is retried.
func (n *Notifier) runtime() *dara.RuntimeOptions {
	ms := int(n.cfg.Timeout / time.Millisecond)
	return &dara.RuntimeOptions{Autoretry: dara.Bool(false), ReadTimeout: dara.Int(ms), ConnectTimeout: dara.Int(ms)}
}

// domestic is the number as Aliyun takes it: +86 numbers without the
// country code, others as 00<country…> (international SMS).
func domestic(e164 string) string {
	if s, ok := strings.CutPrefix(e164, "+86"); ok {
		return s
	}
	return "00" + strings.TrimPrefix(e164, "+")
}

// templateParam is the template's variables as JSON, all from package
// words: the Notification's Params (name, where, what, link) when it has
// them, else its whole text as ${text}.
func templateParam(n anxin.Notification) string {
	p := n.Params
	if len(p) == 0 {
		p = map[string]string{"text": n.Body}
	}
	b, _ := json.Marshal(p) // a map of strings always marshals
	return string(b)
}

// Send sends an SMS or places a TTS call; OutId is our attempt id, so
// reports and queries find their attempt.
func (n *Notifier) Send(ctx context.Context, x anxin.Notification) (string, bool, error) {
	if x.Channel == anxin.ChannelVoice {
		return n.call(ctx, x)
	}
	req := &dysms.SendSmsRequest{
		PhoneNumbers: dara.String(domestic(x.To)), SignName: dara.String(n.cfg.SignName),
		TemplateCode: dara.String(n.cfg.SMSTemplate), TemplateParam: dara.String(templateParam(x)),
		OutId: dara.String(x.AttemptID),
	}
	resp, err := n.sms.SendSmsWithOptions(req, n.runtime())
	if err != nil {
		retry, err := classify(err)
		return "", retry, err
	}
	if resp.Body == nil {
		return "", true, fmt.Errorf("aliyun: SendSms: empty answer: %w", anxin.ErrMaybeSent)
	}
	code := dara.StringValue(resp.Body.Code)
	if code != "OK" {
		return "", retryableCode(code), refusal(fmt.Errorf("aliyun: SendSms: %s", code), 200, code)
	}
	return dara.StringValue(resp.Body.BizId), false, nil
}

func (n *Notifier) call(_ context.Context, x anxin.Notification) (string, bool, error) {
	if n.cfg.TTSTemplate == "" || n.cfg.CalledShowNumber == "" {
		return "", false, errors.New("aliyun: no TTS template or shown number configured for calls")
	}
	q := map[string]*string{
		"CalledShowNumber": dara.String(n.cfg.CalledShowNumber), "CalledNumber": dara.String(domestic(x.To)),
		"TtsCode": dara.String(n.cfg.TTSTemplate), "TtsParam": dara.String(templateParam(x)),
		"PlayTimes": dara.String("2"), "OutId": dara.String(x.AttemptID),
	}
	body, err := n.rpc("SingleCallByTts", q)
	if err != nil {
		retry, err := classify(err)
		return "", retry, err
	}
	if code := str(body, "Code"); code != "OK" {
		return "", retryableCode(code), refusal(fmt.Errorf("aliyun: SingleCallByTts: %s", code), 200, code)
	}
	return str(body, "CallId"), false, nil
}

// rpc is one generic voice API call (Version 2017-05-25) through
// darabonba-openapi: the voice SDK module is not available.
func (n *Notifier) rpc(action string, q map[string]*string) (map[string]any, error) {
	params := &openapiutil.Params{
		Action: dara.String(action), Version: dara.String("2017-05-25"), Protocol: dara.String("HTTPS"),
		Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	res, err := n.voice.CallApi(params, &openapiutil.OpenApiRequest{Query: q}, n.runtime())
	if err != nil {
		return nil, err
	}
	body, _ := res["body"].(map[string]any)
	if body == nil {
		return nil, fmt.Errorf("aliyun: %s: no body in the answer", action)
	}
	return body, nil
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// retryableCode: Aliyun answers 200 with a Code; flow control and system
// errors are worth another try, the rest (bad number, template, signature,
// balance) are not.
func retryableCode(code string) bool {
	return strings.Contains(code, "LIMIT_CONTROL") || strings.HasPrefix(code, "isp.") || code == "Throttling" ||
		strings.HasPrefix(code, "Throttling.") || code == "ServiceUnavailable" || code == "InternalError"
}

// accountCode: Aliyun refused the account, not the number (ErrAccount):
// balance, a suspended, unknown or unsubscribed account, the signature or
// template not approved, a key or RAM permission refused.
func accountCode(status int, code string) bool {
	switch code {
	case "isv.OUT_OF_SERVICE", "isv.AMOUNT_NOT_ENOUGH", "isv.ACCOUNT_NOT_EXISTS", "isv.ACCOUNT_ABNORMAL",
		"isv.PRODUCT_UN_SUBSCRIPT", "isv.PRODUCT_UNSUBSCRIBE", "isv.BILLING_DEDUCTION_ERROR",
		"isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_SIGN_NAME_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL",
		"isp.RAM_PERMISSION_DENY", "isv.RAM_CHECK_FAILED", "SignatureDoesNotMatch":
		return true
	}
	return strings.HasPrefix(code, "InvalidAccessKeyId") || strings.HasPrefix(code, "Forbidden") ||
		status == 401 || status == 403
}

// refusal is the error of a refused request: code's words, marked
// ErrAccount when the account is at fault, ErrNumber when the number is
// (isv.MOBILE_NUMBER_ILLEGAL: not a number Aliyun can send to).
func refusal(err error, status int, code string) error {
	switch {
	case accountCode(status, code):
		return fmt.Errorf("%w: %w", err, anxin.ErrAccount)
	case code == "isv.MOBILE_NUMBER_ILLEGAL":
		return fmt.Errorf("%w: %w", err, anxin.ErrNumber)
	}
	return err
}

// classify maps a transport or SDK error to the Notifier contract: a refused
// connection certainly did not go through; a timeout may have.
func classify(err error) (bool, error) {
	var sdk *tea.SDKError
	if errors.As(err, &sdk) && sdk.StatusCode != nil && *sdk.StatusCode > 0 {
		code := tea.StringValue(sdk.Code)
		return anxin.RetryableStatus(*sdk.StatusCode) || retryableCode(code),
			refusal(fmt.Errorf("aliyun: HTTP %d %.64s", *sdk.StatusCode, code), *sdk.StatusCode, code)
	}
	var resp dara.ResponseError
	if errors.As(err, &resp) && dara.IntValue(resp.GetStatusCode()) > 0 {
		st, code := dara.IntValue(resp.GetStatusCode()), dara.StringValue(resp.GetCode())
		return anxin.RetryableStatus(st) || retryableCode(code), refusal(fmt.Errorf("aliyun: HTTP %d %.64s", st, code), st, code)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true, fmt.Errorf("aliyun: cannot connect: %s", op.Err)
	}
	if strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host") {
		return true, errors.New("aliyun: cannot connect")
	}
	// the error's text may hold the request URL, with the number and the
	// signature in its query: say only what kind of failure it was
	what := "the request failed"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "imeout") {
		what = "no answer in time"
	}
	return true, fmt.Errorf("aliyun: %s: %w", what, anxin.ErrMaybeSent)
}

// Lookup finds an SMS by its OutId among those sent to the number on the
// day of since (QuerySendDetails). Calls cannot be found by OutId: "cannot
// tell" (an error), so escalate fails over after the delivery timeout.
func (n *Notifier) Lookup(_ context.Context, x anxin.Notification, since time.Time) ([]string, error) {
	if x.Channel == anxin.ChannelVoice {
		return nil, errors.New("aliyun: calls cannot be looked up by out id")
	}
	if time.Since(since) < sendRecordDelay {
		// Aliyun lists a send some time after it took it: "not found" now
		// would send the SMS again, so it is "cannot tell yet"
		return nil, errors.New("aliyun: too early to look the SMS up")
	}
	req := &dysms.QuerySendDetailsRequest{
		PhoneNumber: dara.String(domestic(x.To)), SendDate: dara.String(since.In(chinaTime).Format("20060102")),
		PageSize: dara.Int64(50), CurrentPage: dara.Int64(1),
	}
	resp, err := n.sms.QuerySendDetailsWithOptions(req, n.runtime())
	if err != nil {
		_, err = classify(err)
		return nil, err
	}
	if resp.Body == nil || dara.StringValue(resp.Body.Code) != "OK" {
		return nil, errors.New("aliyun: QuerySendDetails refused")
	}
	var ids []string
	if d := resp.Body.SmsSendDetailDTOs; d != nil {
		for _, dto := range d.SmsSendDetailDTO {
			if dara.StringValue(dto.OutId) == x.AttemptID {
				ids = append(ids, x.AttemptID) // the details carry no BizId: our id names it
			}
		}
	}
	return ids[:min(len(ids), 1)], nil
}

// sendRecordDelay is how long Aliyun may take to list a send it took.
const sendRecordDelay = time.Minute

// chinaTime is Aliyun's day boundary for queries.
var chinaTime = time.FixedZone("CST", 8*3600)

// Cancel is a no-op: a voice notification call ends by itself after its
// play times; Aliyun has no cancel for it.
func (n *Notifier) Cancel(context.Context, string, bool) error { return nil }

var _ anxin.Notifier = (*Notifier)(nil)
