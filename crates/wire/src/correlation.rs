/// A CALL this side has sent and whose answer has not arrived yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCall {
    /// The message id the answer must carry.
    pub message_id: String,
    /// The action of the CALL, needed to decode the untyped CALLRESULT payload.
    pub action: String,
}

/// Enforces OCPP-J's rule of at most one outstanding CALL per direction and matches answers.
#[derive(Debug, Default)]
pub struct OutstandingCall {
    /// The CALL in flight, if any.
    pending: Option<PendingCall>,
}

/// Another CALL is still waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a CALL ({action}, id {message_id}) is still outstanding")]
pub struct CallInFlight {
    /// The id of the CALL in flight.
    pub message_id: String,
    /// The action of the CALL in flight.
    pub action: String,
}

impl OutstandingCall {
    /// Registers a CALL about to be sent; fails while another one is outstanding.
    pub fn begin(&mut self, message_id: &str, action: &str) -> Result<(), CallInFlight> {
        if let Some(pending) = &self.pending {
            return Err(CallInFlight {
                message_id: pending.message_id.clone(),
                action: pending.action.clone(),
            });
        }
        self.pending = Some(PendingCall {
            message_id: message_id.to_owned(),
            action: action.to_owned(),
        });
        Ok(())
    }

    /// Takes the outstanding CALL if `message_id` answers it; an unrelated answer leaves it in place.
    pub fn complete(&mut self, message_id: &str) -> Option<PendingCall> {
        match &self.pending {
            Some(pending) if pending.message_id == message_id => self.pending.take(),
            _ => None,
        }
    }

    /// Gives up on the outstanding CALL (time-out or disconnect).
    pub fn abandon(&mut self) -> Option<PendingCall> {
        self.pending.take()
    }

    /// The CALL in flight, if any.
    pub fn pending(&self) -> Option<&PendingCall> {
        self.pending.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_at_a_time_and_answers_match_by_id() {
        let mut outstanding = OutstandingCall::default();
        outstanding.begin("a1", "Reset").unwrap();
        let busy = outstanding.begin("a2", "Reset").unwrap_err();
        assert_eq!(busy.message_id, "a1");
        assert_eq!(outstanding.complete("zz"), None);
        assert_eq!(outstanding.complete("a1").unwrap().action, "Reset");
        assert!(outstanding.pending().is_none());
        outstanding.begin("a2", "ClearCache").unwrap();
        assert_eq!(outstanding.abandon().unwrap().message_id, "a2");
    }
}
