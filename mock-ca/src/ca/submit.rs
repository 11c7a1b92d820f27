//! Submissions: policy, issuance (signed outside the lock) and the
//! certificate manager's issue and deny of pending requests.

use super::*;

/// A certificate made but not yet signed: its TBS, the key to sign it
/// with, and what its row records once it is.
struct Unsigned {
    tbs: Vec<u8>,
    key: Arc<SigningKey>,
    template: Option<String>,
    serial: String,
    cert_index: u16,
    key_index: u16,
    subject: String,
    not_before: UnixTime,
    not_after: UnixTime,
    now: UnixTime,
}

impl Unsigned {
    /// The signed certificate (DER).
    fn sign(&self) -> Vec<u8> {
        x509::sign_tbs(&self.tbs, &self.key)
    }

    /// Records the issued certificate `der` in `row`.
    fn finish(self, row: &mut RequestRow, der: Vec<u8>, message: &str) {
        row.template = self.template;
        row.disposition = Disposition::Issued;
        row.status = HResult::S_OK;
        row.disposition_message = message.to_string();
        row.resolved_at = Some(self.now);
        row.certificate = Some(der);
        row.serial = Some(self.serial);
        row.ca_cert_index = Some(self.cert_index);
        row.ca_key_index = Some(self.key_index);
        row.subject = Some(self.subject);
        row.not_before = Some(self.not_before);
        row.not_after = Some(self.not_after);
    }
}

impl Ca {
    /// Submits a request (any encoding clients send) with CertAttrib pairs.
    /// Every submission gets a row and an ID, whatever its fate; `Err` means
    /// the CA could not record it (storage failure) and nothing was acknowledged.
    pub fn submit(
        &self,
        request: &[u8],
        requester: &Requester,
        attributes: &[(String, String)],
    ) -> Result<Submission, CaError> {
        self.submit_with(request, requester, attributes, None)
    }

    /// [`Ca::submit`] with the policy's decision overridden (an injected
    /// fault): denied with a chosen HRESULT, or held pending for a manager.
    pub fn submit_with(
        &self,
        request: &[u8],
        requester: &Requester,
        attributes: &[(String, String)],
        over: Option<PolicyOverride>,
    ) -> Result<Submission, CaError> {
        let parsed = parse_request(request);
        let mut st = self.lock();
        let now = self.clock.now();
        let id = st.db.allocate_id();
        let stored = match &parsed {
            Ok(p) => p.der.clone(),
            Err(_) if request.len() <= MAX_REQUEST_BYTES => request.to_vec(),
            Err(_) => Vec::new(),
        };
        let mut row = new_row(id, stored, requester.clone(), attributes.to_vec(), now);
        match parsed {
            Err(e) => {
                row.disposition = Disposition::Denied;
                row.status = e.hresult;
                row.disposition_message = e.message;
                row.resolved_at = Some(now);
            }
            Ok(p) => {
                let who = self.with_sid(requester);
                let decision = match &p.on_behalf_of {
                    None => decide(&st.config, &p, &who, attributes, false),
                    Some(agent) => match self.agent_target(&st, agent) {
                        Ok((target, purposes)) => {
                            let agent = crate::policy::Agent {
                                who: &who,
                                purposes: &purposes,
                            };
                            let d = decide_on_behalf(&st.config, &p, &agent, &target, attributes);
                            row.agent = Some(who.account.clone());
                            row.requester = target;
                            d
                        }
                        Err((hresult, message)) => Decision::Deny {
                            template: None,
                            hresult,
                            message,
                        },
                    },
                };
                let template = match &decision {
                    Decision::Issue(plan) => plan.template.clone(),
                    Decision::Pending { template } | Decision::Deny { template, .. } => {
                        template.clone()
                    }
                };
                let decision = match (over, decision) {
                    (Some(PolicyOverride::Deny(h)), _) => Decision::Deny {
                        template,
                        hresult: h,
                        message: format!(
                            "{}  0x{:08x}, {}",
                            disposition_message::DENIED_BY_POLICY,
                            h.0,
                            h.message()
                        ),
                    },
                    (Some(PolicyOverride::Pending), Decision::Issue(_)) => {
                        Decision::Pending { template }
                    }
                    (_, d) => d,
                };
                if let Decision::Issue(plan) = &decision {
                    return self.issue_unlocked(
                        st,
                        row,
                        plan,
                        &p.spki_der,
                        now,
                        |_| Ok(()),
                        disposition_message::ISSUED,
                    );
                }
                self.apply(
                    &st,
                    &mut row,
                    decision,
                    &p,
                    now,
                    disposition_message::ISSUED,
                )?;
            }
        }
        let submission = Submission::from(&row);
        commit(&mut st, row)?;
        Ok(submission)
    }

    fn apply(
        &self,
        st: &State,
        row: &mut RequestRow,
        decision: Decision,
        p: &ParsedRequest,
        now: UnixTime,
        issued_message: &str,
    ) -> Result<(), CaError> {
        match decision {
            Decision::Deny {
                template,
                hresult,
                message,
            } => {
                row.template = template.or(row.template.take());
                row.disposition = Disposition::Denied;
                row.status = hresult;
                row.disposition_message = message;
                row.resolved_at = Some(now);
            }
            Decision::Pending { template } => {
                row.template = template;
                row.disposition = Disposition::Pending;
                row.status = HResult::S_OK;
                row.disposition_message = disposition_message::PENDING.to_string();
            }
            Decision::Issue(plan) => {
                self.issue_into(st, row, &plan, &p.spki_der, now, issued_message)?;
            }
        }
        Ok(())
    }

    /// Issues `row` by `plan`, signing without holding the lock so that
    /// submissions and approvals sign on every core: the serial and TBS are
    /// made under `st`, the signature after dropping it, and the row is
    /// committed after `still_valid` (checked under the lock again) passes.
    /// A reset in between refuses with CA_OFFLINE.
    #[allow(clippy::too_many_arguments)]
    fn issue_unlocked(
        &self,
        st: MutexGuard<'_, State>,
        mut row: RequestRow,
        plan: &IssuePlan,
        spki: &[u8],
        now: UnixTime,
        still_valid: impl Fn(&State) -> Result<(), CaError>,
        message: &str,
    ) -> Result<Submission, CaError> {
        let unsigned = self.prepare_issue(&st, row.id, plan, spki, now)?;
        let epoch = st.epoch;
        drop(st);
        let der = unsigned.sign();
        let mut st = self.lock();
        if st.epoch != epoch {
            return Err(CaError::refused(
                HResult::CA_OFFLINE,
                "the CA was reset while the certificate was being signed",
            ));
        }
        still_valid(&st)?;
        unsigned.finish(&mut row, der, message);
        let submission = Submission::from(&row);
        commit(&mut st, row)?;
        Ok(submission)
    }

    /// `requester` with its objectSid: the directory's, or when it has none
    /// (a requester made in code) the one this CA's seed gives the account
    /// name, as the directory derives it ([`crate::db::sid::of`]).
    pub(super) fn with_sid(&self, requester: &Requester) -> Requester {
        let mut who = requester.clone();
        if who.sid.is_none() {
            who.sid = Some(crate::db::sid::of(&self.seed, &who.account));
        }
        who
    }

    /// Signs the certificate of `plan` into `row` (under the lock).
    pub(super) fn issue_into(
        &self,
        st: &State,
        row: &mut RequestRow,
        plan: &IssuePlan,
        spki: &[u8],
        now: UnixTime,
        message: &str,
    ) -> Result<(), CaError> {
        let unsigned = self.prepare_issue(st, row.id, plan, spki, now)?;
        let der = unsigned.sign();
        unsigned.finish(row, der, message);
        Ok(())
    }

    /// A certificate the CA signs for `plan` and `spki` without a request
    /// row: its serial carries request ID 0, which no row has.
    pub(super) fn sign_unrecorded(
        &self,
        st: &State,
        plan: &IssuePlan,
        spki: &[u8],
    ) -> Result<Vec<u8>, CaError> {
        Ok(self
            .prepare_issue(st, 0, plan, spki, self.clock.now())?
            .sign())
    }

    /// Everything of request `id`'s certificate but its signature.
    fn prepare_issue(
        &self,
        st: &State,
        id: u32,
        plan: &IssuePlan,
        spki: &[u8],
        now: UnixTime,
    ) -> Result<Unsigned, CaError> {
        let auth = &st.authority;
        let cert_index = auth.current_index();
        let ca = auth.current();
        let key = auth.key_for(cert_index).expect("current key").clone();
        let random: [u8; 8] = self.seed.derive(&format!("serial/leaf/{id}"))[..8]
            .try_into()
            .expect("8 bytes");
        let high = st
            .config
            .high_serial
            .unwrap_or(self.seed.derive("high-serial")[0]);
        let serial = adcs_serial(id, cert_index, random, high);
        let not_before = now - CLOCK_SKEW_SECS;
        let not_after = (now + plan.validity_days as i64 * DAY).min(ca.not_after);
        let base = authority::enroll_base(&st.config);
        let cn = auth.ca_cn();
        let cdp = format!(
            "{base}{}",
            authority::url_escape(&authority::crl_file_name(&cn, ca.key_index, false))
        );
        let aia = format!(
            "{base}{}",
            authority::url_escape(&authority::crt_file_name(
                &st.config.host_name,
                &cn,
                cert_index
            ))
        );
        let der_err = |e: der::Error| CaError::from(AuthorityError::from(e));
        let mut extensions = vec![extension(
            oid::SUBJECT_KEY_IDENTIFIER,
            false,
            x509::ski_value(&x509::key_id(spki).map_err(der_err)?),
        )];
        if let Some(san) = &plan.san {
            extensions.push(san.clone());
        }
        extensions.push(extension(
            oid::AUTHORITY_KEY_IDENTIFIER,
            false,
            x509::aki_value(&x509::key_id(key.spki_der()).map_err(der_err)?),
        ));
        extensions.push(extension(
            oid::CRL_DISTRIBUTION_POINTS,
            false,
            x509::cdp_value(&[cdp]).map_err(der_err)?,
        ));
        extensions.push(extension(
            oid::AUTHORITY_INFO_ACCESS,
            false,
            x509::aia_value(&[aia]).map_err(der_err)?,
        ));
        extensions.extend(plan.body.iter().cloned());
        extensions.retain(|e| !st.config.extension_disabled(&e.extn_id));
        let spec = CertificateSpec {
            serial: &serial,
            issuer: &auth.name,
            subject: &plan.subject,
            not_before,
            not_after,
            spki_der: spki,
            extensions,
        };
        let tbs = x509::tbs_certificate(&spec, key.signature_algorithm()).map_err(der_err)?;
        Ok(Unsigned {
            tbs,
            key,
            template: plan.template.clone(),
            serial: hex(&serial),
            cert_index,
            key_index: ca.key_index,
            subject: format_dn(&plan.subject),
            not_before,
            not_after,
            now,
        })
    }

    fn pending_row(st: &State, id: u32) -> Result<RequestRow, CaError> {
        let row = st.db.get(id)?.ok_or_else(|| {
            CaError::refused(
                HResult::PROPERTY_EMPTY,
                format!("request {id} does not exist"),
            )
        })?;
        if row.disposition != Disposition::Pending {
            return Err(CaError::refused(
                HResult::BAD_REQUESTSTATUS,
                format!("request {id} is {}, not pending", row.disposition.as_str()),
            ));
        }
        Ok(row.clone())
    }

    /// Issues a pending request (ICertAdmin::ResubmitRequest) as `officer`.
    pub fn issue_pending(&self, id: u32, officer: &str) -> Result<Submission, CaError> {
        let mut st = self.lock();
        let mut row = Self::pending_row(&st, id)?;
        let now = self.clock.now();
        match parse_request(&row.request) {
            Ok(p) => {
                let who = self.with_sid(&row.requester);
                let decision = decide(&st.config, &p, &who, &row.attributes, true);
                if let Decision::Issue(plan) = &decision {
                    // Another officer may resolve it while this one signs.
                    let still_pending = |st: &State| Self::pending_row(st, id).map(drop);
                    let message = format!("Resubmitted by {officer}");
                    return self.issue_unlocked(
                        st,
                        row,
                        plan,
                        &p.spki_der,
                        now,
                        still_pending,
                        &message,
                    );
                }
                self.apply(
                    &st,
                    &mut row,
                    decision,
                    &p,
                    now,
                    &format!("Resubmitted by {officer}"),
                )?;
            }
            Err(e) => {
                row.disposition = Disposition::Denied;
                row.status = e.hresult;
                row.disposition_message = e.message;
                row.resolved_at = Some(now);
            }
        }
        let s = Submission::from(&row);
        commit(&mut st, row)?;
        Ok(s)
    }

    /// Denies a pending request (ICertAdmin::DenyRequest) as `officer`.
    pub fn deny(&self, id: u32, officer: &str) -> Result<Submission, CaError> {
        let mut st = self.lock();
        let mut row = Self::pending_row(&st, id)?;
        row.disposition = Disposition::Denied;
        row.status = HResult::ADMIN_DENIED_REQUEST;
        row.disposition_message = format!("Denied by {officer}");
        row.resolved_at = Some(self.clock.now());
        let s = Submission::from(&row);
        commit(&mut st, row)?;
        Ok(s)
    }
}

pub(super) fn new_row(
    id: u32,
    request: Vec<u8>,
    requester: Requester,
    attributes: Vec<(String, String)>,
    now: UnixTime,
) -> RequestRow {
    RequestRow {
        id,
        request,
        requester,
        attributes,
        template: None,
        disposition: Disposition::Failed,
        disposition_message: String::new(),
        status: HResult::S_OK,
        submitted_at: now,
        resolved_at: None,
        certificate: None,
        serial: None,
        ca_cert_index: None,
        ca_key_index: None,
        subject: None,
        not_before: None,
        not_after: None,
        revocation: None,
        hold_released_at: None,
        agent: None,
    }
}
