// Polls the export's JSON status once a second and updates the page until it is done.
(() => {
  const section = document.getElementById("export");
  const bar = document.getElementById("export-progress");
  const percent = section.querySelector("[data-testid=export-percent]");
  const status = section.querySelector("[data-testid=export-status] span");
  const ready = section.querySelector("[data-testid=export-ready]");
  const failed = section.querySelector("[data-testid=export-failed]");

  function show(data) {
    bar.value = data.progress;
    bar.textContent = percent.textContent = `${data.progress} %`;
    status.textContent = data.status;
    ready.hidden = data.status !== "ready";
    failed.hidden = data.status !== "failed";
    failed.querySelector("span").textContent = data.error || "";
  }

  async function poll() {
    try {
      const response = await fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        show(data);
        if (data.status === "ready" || data.status === "failed") return;
      }
    } catch (error) {
      // A network hiccup: keep polling.
    }
    setTimeout(poll, 1000);
  }

  if (section.dataset.status === "pending" || section.dataset.status === "running") poll();
})();
