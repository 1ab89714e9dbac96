package care

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// idWeights are the GB 11643 weights of the first 17 digits (2^(17-i) mod 11).
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheck maps the weighted sum mod 11 to the check character (ISO 7064 MOD 11-2).
const idCheck = "10X98765432"

// CheckDigit is the GB 11643 check character for the first 17 digits of a
// resident ID number, or 0 when they are not 17 digits.
func CheckDigit(first17 string) byte {
	if len(first17) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0
		}
		sum += int(c-'0') * idWeights[i]
	}
	return idCheck[sum%11]
}

// IDNumber is a parsed resident ID number.
type IDNumber struct {
	Region string    // six-digit administrative division code
	Birth  time.Time // date of birth (UTC midnight)
	Gender anxin.Gender
}

// ParseIDNumber checks an 18-character resident ID number (GB 11643-1999):
// 17 digits and a check character (0–9 or X, upper case), a region code not
// starting with 0, a real date of birth not after today. The error message
// never repeats the number nor any part of it; IDNumberErrorZh says it in
// Chinese.
func ParseIDNumber(s string, today time.Time) (IDNumber, error) {
	if len(s) != 18 {
		n := utf8.RuneCountInString(s) // characters, as the person counts them
		if n == 18 {
			return IDNumber{}, idError("居民身份证号码只能是数字和 X（不能有汉字、全角数字或空格）", "resident ID number: only digits and X")
		}
		return IDNumber{}, idError(fmt.Sprintf("居民身份证号码应为 18 位，这里是 %d 位", n), "resident ID number must be 18 characters, not %d", n)
	}
	want := CheckDigit(s[:17])
	if want == 0 {
		return IDNumber{}, idError("居民身份证号码前 17 位必须是数字", "resident ID number: the first 17 characters must be digits")
	}
	if s[0] == '0' {
		return IDNumber{}, idError("居民身份证号码的地区码不能以 0 开头", "resident ID number: region code cannot start with 0")
	}
	y, m, d := atoi(s[6:10]), atoi(s[10:12]), atoi(s[12:14])
	birth := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if y < 1870 || birth.Year() != y || int(birth.Month()) != m || birth.Day() != d {
		return IDNumber{}, idError("居民身份证号码中的出生日期不存在", "resident ID number: the date of birth (characters 7 to 14) is not a date")
	}
	if ty, tm, td := today.Date(); birth.After(time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC)) {
		return IDNumber{}, idError("居民身份证号码中的出生日期晚于今天", "resident ID number: date of birth is in the future")
	}
	if s[17] != want {
		return IDNumber{}, idError("居民身份证号码校验位不对（可能输错了一位）", "resident ID number: check digit does not match (mistyped digit?)")
	}
	g := anxin.Female
	if (s[16]-'0')%2 == 1 {
		g = anxin.Male
	}
	return IDNumber{Region: s[:6], Birth: birth, Gender: g}, nil
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// AgeOn is the age in completed years on the given day of someone born on birth.
func AgeOn(birth, day time.Time) int {
	by, bm, bd := birth.Date()
	y, m, d := day.Date()
	age := y - by
	if m < bm || m == bm && d < bd {
		age--
	}
	return age
}

// idNumberError is an EINVALID error of ParseIDNumber with its Chinese words.
type idNumberError struct {
	err *anxin.Error
	zh  string
}

func (e *idNumberError) Error() string { return e.err.Error() }
func (e *idNumberError) Unwrap() error { return e.err }

func idError(zh, format string, args ...any) error {
	return &idNumberError{err: anxin.Errorf(anxin.EINVALID, format, args...), zh: zh}
}

// IDNumberErrorZh says in Chinese what an error of ParseIDNumber found
// wrong ("" for nil); like the error, it never repeats the number.
func IDNumberErrorZh(err error) string {
	if e := (*idNumberError)(nil); errors.As(err, &e) {
		return e.zh
	}
	return anxin.ErrorMessage(err)
}
