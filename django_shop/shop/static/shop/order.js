// While the confirmation email is pending, ask the server every second whether
// it has been sent, and say so as soon as it has (reloading the page, whose
// timeline then shows the whole task).
(function () {
  const status = document.querySelector("[data-poll-url]");
  if (!status) return;

  async function poll() {
    try {
      const response = await fetch(status.dataset.pollUrl, { headers: { Accept: "application/json" } });
      if (response.ok && (await response.json()).confirmation_sent) {
        status.textContent = status.dataset.sentMessage;
        // The page again, with the task's timeline up to its success.
        window.location.reload();
        return;
      }
    } catch (error) {
      // A network hiccup: try again on the next tick.
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
