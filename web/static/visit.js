// Visits recorded without a connection: a visit form saved while the phone
// is offline is kept in localStorage and sent when the connection returns
// (from any page of the app). Each form carries its own key, so a form sent
// twice is recorded once. Without this script the form posts as usual.
(function () {
  var STORE = 'anxin-pending-visits';
  var note = document.getElementById('pending');
  function load() {
    try { return JSON.parse(localStorage.getItem(STORE) || '[]'); } catch (e) { return []; }
  }
  function save(list) { localStorage.setItem(STORE, JSON.stringify(list)); show(); }
  function show() {
    if (!note) return;
    var n = load().length;
    note.textContent = n ? n + ' 份探访记录保存在手机上，联网后自动提交' : '';
    note.hidden = !n;
  }
  var sending = false;
  function send() {
    var list = load();
    var csrf = document.querySelector('input[name=csrf]');
    if (sending || !list.length || !navigator.onLine || !csrf) return;
    sending = true;
    var data = new URLSearchParams(list[0].data);
    data.set('csrf', csrf.value); // this session's token: the stored one may be from an older sign-in
    fetch(list[0].action, {method: 'POST', body: data, credentials: 'same-origin', redirect: 'manual'})
      .then(function (r) {
        sending = false;
        if (r.status === 401 || r.status === 403 || r.status >= 500) return; // sign in again, or retry later
        save(load().slice(1)); // recorded (a redirect), or refused for good
        if (r.type === 'opaqueredirect' || r.ok) document.documentElement.setAttribute('data-sent', String(Date.now()));
        send();
      }, function () { sending = false; });
  }
  var form = document.getElementById('visit');
  if (form) {
    form.addEventListener('submit', function (ev) {
      if (navigator.onLine) return;
      ev.preventDefault();
      var list = load();
      list.push({action: form.action, data: Array.from(new FormData(form).entries())});
      save(list);
      form.hidden = true;
    });
  }
  window.addEventListener('online', send);
  show();
  send();
})();
