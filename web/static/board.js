// The alarm board's live list: the server pushes the list's HTML as
// server-sent events ("alarms"); nothing here polls.
(function () {
  var list = document.getElementById('alarms');
  var live = document.getElementById('live');
  if (!list || !window.EventSource) return;
  var es = new EventSource('/app/board/events');
  es.addEventListener('alarms', function (e) {
    list.innerHTML = e.data;
    list.setAttribute('data-updated', String(Date.now()));
  });
  es.onopen = function () { live.textContent = '实时'; live.className = ''; };
  es.onerror = function () { live.textContent = '连接中断，正在重连…'; live.className = 'bad'; };
})();
