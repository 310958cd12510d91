//! Which finished sessions a gateway reports — mail, or a mail port
//! whatever it carried — or, with `all_flows`, every TCP flow; `inspect`
//! writes through the same filter. Web and other non-mail sessions would
//! otherwise fill the reporter's rings and the control plane's store, and
//! under load cost mail sessions their records.

use crate::engine::{SessionEnd, SessionSink};

/// Passes the sessions a gateway reports on to `inner` (the reporter's ring).
pub struct ReportFilter<S> {
    inner: S,
    all_flows: bool,
}

impl<S> ReportFilter<S> {
    /// Reports mail and mail-port sessions to `inner`, or every flow with `all_flows`.
    pub fn new(inner: S, all_flows: bool) -> Self {
        ReportFilter { inner, all_flows }
    }

    /// The sink behind the filter (to finish it once the flows are ended).
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: SessionSink> SessionSink for ReportFilter<S> {
    #[inline]
    fn emit(&mut self, session: &mut SessionEnd<'_>) {
        if self.all_flows || session.is_reportable() {
            self.inner.emit(session);
        }
    }

    fn ending(&mut self) {
        self.inner.ending();
    }
}
