"""What counts as identifying in medical image headers, and functions that drop it.

Readers copy into the model only voxel values and geometry; nothing else from a header ever
reaches a :class:`~vizserver.model.Scene`. These functions go further and delete what a header
holds beyond that *before* a reader looks at anything else, so that no later warning, log line
or error message can quote it. They return the **names** of the identifying fields they
removed (``"PatientName"``, ``"descrip"``), never their values; readers pass the names on in
``Volume.removed_identifiers`` and ``Scene.removed_identifiers``.

DICOM follows the spirit of PS3.15 Annex E (basic application level confidentiality profile):
the names, IDs, dates, times, UIDs, institutions, devices and free text it lists, the patient's
sex, age, size and weight (quasi-identifiers), every private tag (reported as ``PrivateTags``)
and overlay/curve groups, which can carry burnt-in text (``Overlays``). Stripping keeps only an
allow-list of pixel and geometry elements (:data:`DICOM_KEEP`), so an identifying element that
is missing from :data:`DICOM_IDENTIFYING` is still dropped; it is only not *named* as dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

DICOM_KEEP: frozenset[str] = frozenset({
    # pixel module: what decoding needs
    "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration",
    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "NumberOfFrames",
    "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    # geometry and value scaling
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
    "SpacingBetweenSlices", "RescaleSlope", "RescaleIntercept", "RescaleType", "Modality",
})
"""Dataset elements a DICOM reader keeps; every other element is deleted on reading."""

DICOM_META_KEEP: frozenset[str] = frozenset({
    "FileMetaInformationGroupLength", "FileMetaInformationVersion", "MediaStorageSOPClassUID",
    "TransferSyntaxUID",
})
"""File meta elements kept (the transfer syntax is needed to decode pixels)."""

_IDENTIFYING_KEYWORDS = """
AccessionNumber AcquisitionComments AcquisitionContextSequence AcquisitionDate AcquisitionDateTime
AcquisitionDeviceProcessingDescription AcquisitionProtocolDescription AcquisitionTime AcquisitionUID
ActualHumanPerformersSequence AdditionalPatientHistory AdmissionID AdmittingDate
AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription AdmittingTime AffectedSOPInstanceUID
Allergies AuthorObserverSequence BranchOfService CassetteID CommentsOnThePerformedProcedureStep
ConcatenationUID ConfidentialityConstraintOnPatientDataDescription ContentCreatorName
ContentCreatorIdentificationCodeSequence ContentDate ContentSequence ContentTime
ContextGroupExtensionCreatorUID ContrastBolusAgent ContributionDescription CountryOfResidence
CreatorVersionUID CurrentPatientLocation CustodialOrganizationSequence DataSetTrailingPadding
DerivationDescription DetectorID DeviceDescription DeviceSerialNumber DeviceUID DigitalSignatureUID
DigitalSignaturesSequence DimensionOrganizationUID DischargeDiagnosisDescription DistributionAddress
DistributionName DoseReferenceUID EthnicGroup FailedSOPInstanceUIDList FiducialUID
FillerOrderNumberImagingServiceRequest FrameComments FrameOfReferenceUID GantryID GeneratorID
GraphicAnnotationSequence HumanPerformerName HumanPerformerOrganization IconImageSequence
IdentifyingComments ImageComments ImagePresentationComments ImagingServiceRequestComments Impressions
InstanceCreationDate InstanceCreationTime InstanceCreatorUID InstitutionAddress InstitutionCodeSequence
InstitutionName InstitutionalDepartmentName InsurancePlanIdentification
IntendedRecipientsOfResultsIdentificationSequence InterpretationApproverSequence InterpretationAuthor
InterpretationDiagnosisDescription InterpretationIDIssuer InterpretationRecorder InterpretationText
InterpretationTranscriber IrradiationEventUID IssuerOfAdmissionID IssuerOfPatientID
IssuerOfServiceEpisodeID LargePaletteColorLookupTableUID LastMenstrualDate MAC
MediaStorageSOPInstanceUID MedicalAlerts MedicalRecordLocator MilitaryRank ModifiedAttributesSequence
ModifiedImageDescription ModifyingDeviceID ModifyingDeviceManufacturer NameOfPhysiciansReadingStudy
NamesOfIntendedRecipientsOfResults Occupation OperatorIdentificationSequence OperatorsName
OriginalAttributesSequence OrderCallbackPhoneNumber OrderEnteredBy OrderEntererLocation OtherPatientIDs
OtherPatientIDsSequence OtherPatientNames ParticipantSequence PatientAddress PatientAge PatientBirthDate
PatientBirthName PatientBirthTime PatientComments PatientID PatientInsurancePlanCodeSequence
PatientMotherBirthName PatientName PatientPrimaryLanguageCodeSequence PatientReligiousPreference
PatientSex PatientSexNeutered PatientSize PatientState PatientTelephoneNumbers PatientTelecomInformation
PatientTransportArrangements PatientWeight PerformedLocation PerformedProcedureStepDescription
PerformedProcedureStepEndDate PerformedProcedureStepEndTime PerformedProcedureStepID
PerformedProcedureStepStartDate PerformedProcedureStepStartTime PerformedStationAETitle
PerformedStationGeographicLocationCodeSequence PerformedStationName PerformedStationNameCodeSequence
PerformingPhysicianIdentificationSequence PerformingPhysicianName PersonAddress
PersonIdentificationCodeSequence PersonName PersonTelephoneNumbers PhysicianApprovingInterpretation
PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence
PlacerOrderNumberImagingServiceRequest PlateID PreMedication PregnancyStatus ProtocolName
ReasonForTheImagingServiceRequest ReasonForStudy ReferencedDigitalSignatureSequence
ReferencedFrameOfReferenceUID ReferencedImageSequence ReferencedPatientAliasSequence
ReferencedPatientSequence ReferencedPerformedProcedureStepSequence ReferencedSOPInstanceMACSequence
ReferencedSOPInstanceUID ReferencedSOPInstanceUIDInFile ReferencedSeriesSequence ReferencedStudySequence
ReferringPhysicianAddress ReferringPhysicianIdentificationSequence ReferringPhysicianName
ReferringPhysicianTelephoneNumbers RegionOfResidence RelatedFrameOfReferenceUID RequestAttributesSequence
RequestedContrastAgent RequestedProcedureComments RequestedProcedureDescription RequestedProcedureID
RequestedProcedureLocation RequestedSOPInstanceUID RequestingPhysician RequestingService
ResponsibleOrganization ResponsiblePerson ResponsiblePersonRole ResultsComments
ResultsDistributionListSequence ResultsIDIssuer ReviewerName ScheduledHumanPerformersSequence
ScheduledPatientInstitutionResidence ScheduledPerformingPhysicianIdentificationSequence
ScheduledPerformingPhysicianName ScheduledProcedureStepEndDate ScheduledProcedureStepEndTime
ScheduledProcedureStepDescription ScheduledProcedureStepLocation ScheduledProcedureStepStartDate
ScheduledProcedureStepStartTime ScheduledStationAETitle ScheduledStationGeographicLocationCodeSequence
ScheduledStationName ScheduledStationNameCodeSequence ScheduledStudyLocation ScheduledStudyLocationAETitle
SeriesDate SeriesDescription SeriesInstanceUID SeriesTime ServiceEpisodeDescription ServiceEpisodeID
SmokingStatus SOPInstanceUID SourceApplicationEntityTitle SourceImageSequence SpecialNeeds StationName
StorageMediaFileSetUID StudyComments StudyDate StudyDescription StudyID StudyIDIssuer StudyInstanceUID
StudyTime SynchronizationFrameOfReferenceUID TargetUID TemplateExtensionCreatorUID
TemplateExtensionOrganizationUID TextComments TextString TimezoneOffsetFromUTC TopicAuthor TopicKeywords
TopicSubject TopicTitle TransactionUID UID VerifyingObserverIdentificationCodeSequence
VerifyingObserverName VerifyingObserverSequence VerifyingOrganization VisitComments
ClinicalTrialSponsorName ClinicalTrialProtocolID ClinicalTrialProtocolName ClinicalTrialSiteID
ClinicalTrialSiteName ClinicalTrialSubjectID ClinicalTrialSubjectReadingID ClinicalTrialTimePointID
ClinicalTrialCoordinatingCenterName ClinicalTrialSeriesID SendingApplicationEntityTitle
ReceivingApplicationEntityTitle
"""

DICOM_IDENTIFYING: frozenset[str] = frozenset(_IDENTIFYING_KEYWORDS.split())
"""Keywords (PS3.6) reported by name when :func:`strip_dicom` drops them."""

NIFTI_TEXT_FIELDS: tuple[str, ...] = ("descrip", "aux_file", "db_name", "intent_name")
"""Free-text NIfTI header fields; header extensions (which can embed a whole DICOM header) go too."""

_SAFE_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_ .-]{0,63}")


def strip_dicom(dataset: Any) -> tuple[str, ...]:
    """Delete from a pydicom ``Dataset`` (and its ``file_meta``) every element not in the keep lists.

    Elements are deleted without decoding their values, so nothing is validated, warned about
    or logged. Returns the sorted names of the identifying elements that were present.
    """
    from pydicom.datadict import keyword_for_tag

    removed: set[str] = set()
    for tag in list(dataset.keys()):
        keyword = keyword_for_tag(tag)
        if keyword in DICOM_KEEP and not tag.is_private:
            continue
        if tag.is_private:
            removed.add("PrivateTags")
        elif (tag.group >> 8) in (0x50, 0x60):
            removed.add("Overlays")
        elif keyword in DICOM_IDENTIFYING:
            removed.add(keyword)
        del dataset[tag]
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        for tag in list(meta.keys()):
            keyword = keyword_for_tag(tag)
            if keyword not in DICOM_META_KEEP:
                if keyword in DICOM_IDENTIFYING:
                    removed.add(keyword)
                del meta[tag]
    return tuple(sorted(removed))


def strip_nifti(header: Any) -> tuple[str, ...]:
    """Blank the free-text fields of a nibabel NIfTI-1/2 header and drop its extensions.

    Returns the names of the fields that were not empty (``"extensions"`` for extensions).
    """
    removed: list[str] = []
    for name in NIFTI_TEXT_FIELDS:
        if name not in header:
            continue
        raw = header[name]
        text = raw.item() if hasattr(raw, "item") else raw
        if isinstance(text, bytes) and text.strip(b"\x00 \t\r\n"):
            removed.append(name)
        header[name] = b""
    extensions = getattr(header, "extensions", None)
    if extensions:
        removed.append("extensions")
        del extensions[:]
    return tuple(removed)


def free_text_fields(keys: Iterable[str], keep: Iterable[str]) -> tuple[str, ...]:
    """Names of the header fields in ``keys`` that are not format or geometry fields (``keep``).

    Used for NRRD and MetaImage, whose key/value fields can hold anything. A key that is not a
    plain identifier-like word is reported as ``"unnamed field"`` rather than quoted, since a
    key can itself be text a user typed. Matching against ``keep`` ignores case.
    """
    kept = {k.lower() for k in keep}
    names = {field_label(k) for k in keys if k.lower() not in kept}
    return tuple(sorted(names))


def field_label(key: str) -> str:
    """``key`` if it looks like a field name (letters, digits, ``_ .-``, at most 64), else a placeholder."""
    return key if _SAFE_FIELD_NAME.fullmatch(key) else "unnamed field"
