// The documented XML of the ldmd interface (Oracle "Using the XML Interface With the Logical
// Domains Manager", LDoms 1.3 / OVM Server for SPARC 3.2 guides; illumos libldom), kept with
// their known flaws where a test is about the flaw.
#pragma once

namespace ldm_examples {

// The post-STARTTLS features of a server that wants SASL PLAIN.
inline constexpr const char* kFeaturesSasl =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>";

inline constexpr const char* kFeaturesStartTls =
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    "</stream:features>";

inline constexpr const char* kProceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

// Example 22-3 (registration request).
inline constexpr const char* kRegistrationRequest = R"(<LDM_interface version="1.3">
  <cmd>
    <action>reg-domain-events</action>
    <data version="3.0"/>
  </cmd>
</LDM_interface>)";

// Example 22-4 as ldmd actually balances it (the guide's text self-closes <data/> and then
// closes </data> again, which no XML parser accepts).
inline constexpr const char* kRegistrationResponse = R"(<LDM_interface version="1.3">
  <cmd>
    <action>reg-domain-events</action>
    <data version="3.0">
      <response>
        <status>success</status>
      </response>
    </data>
    <response>
      <status>success</status>
    </response>
  </cmd>
  <response>
    <status>success</status>
  </response>
</LDM_interface>)";

// Example 22-4 exactly as printed: <data version="3.0"/> followed by </data>.
inline constexpr const char* kRegistrationResponseAsPrinted = R"(<LDM_interface version="1.3">
  <cmd>
    <action>reg-domain-events</action>
    <data version="3.0"/>
      <response>
        <status>success</status>
      </response>
    </data>
    <response>
      <status>success</status>
    </response>
  </cmd>
  <response>
    <status>success</status>
  </response>
</LDM_interface>)";

inline constexpr const char* kRegistrationFailure = R"(<LDM_interface version="1.0">
  <cmd>
    <action>reg-hardware-events</action>
    <data version="3.0">
      <response>
        <status>failure</status>
        <resp_msg>Permission denied</resp_msg>
      </response>
    </data>
    <response>
      <status>failure</status>
      <resp_msg>Registration for hardware events failed</resp_msg>
    </response>
  </cmd>
  <response>
    <status>failure</status>
  </response>
</LDM_interface>)";

// The reference's domain event (undeclared xsi/ovf prefixes, ovf:id).
inline constexpr const char* kStartDomain = R"(<LDM_event version='1.0'>
  <cmd>
    <action>start-domain</action>
    <data version='3.0'>
      <Envelope>
        <References/>
        <Content xsi:type='ovf:VirtualSystem_Type' ovf:id='ldg1'/>
      </Envelope>
    </data>
  </cmd>
</LDM_event>)";

// Example 22-5 (3.2 guide) as printed: "<Envelope" lacks its '>'.
inline constexpr const char* kExample225AsPrinted = R"(<LDM_event version='1.1'>
  <cmd>
    <action>Event command here</action>
    <data version='3.0'>
      <Envelope
        <References/>
        <Content xsi:type='ovf:VirtualSystem_Type' ovf:id='ldg1'/>
          <Section xsi:type="ovf:ResourceAllocationSection_type">
            <Item>
              <rasd:OtherResourceType>LDom Resource Type</rasd:OtherResourceType>
              <gprop:GenericProperty
              key="Property name">Property Value</gprop:GenericProperty>
            </Item>
          </Section>
      </Envelope>
    </data>
  </cmd>
</LDM_event>)";

// Example 22-5 with the '>' restored: Section beside a self-closed Content, _type suffix.
inline constexpr const char* kExample225 = R"(<LDM_event version='1.1'>
  <cmd>
    <action>Event command here</action>
    <data version='3.0'>
      <Envelope>
        <References/>
        <Content xsi:type='ovf:VirtualSystem_Type' ovf:id='ldg1'/>
          <Section xsi:type="ovf:ResourceAllocationSection_type">
            <Item>
              <rasd:OtherResourceType>LDom Resource Type</rasd:OtherResourceType>
              <gprop:GenericProperty
              key="Property name">Property Value</gprop:GenericProperty>
            </Item>
          </Section>
      </Envelope>
    </data>
  </cmd>
</LDM_event>)";

// Example 12-5 (1.3 guide, corrected '>'): no <cmd>, no <Item>, properties straight in Section.
inline constexpr const char* kExample125 = R"(<LDM_event version='1.0'>
    <action>add-vcpu</action>
    <data version='3.0'>
        <Content xsi:type='ovf:VirtualSystem_Type' ovf:id='ldg1'/>
          <Section xsi:type="ovf:ResourceAllocationSection_type">
              <rasd:OtherResourceType>cpu</rasd:OtherResourceType>
              <gprop:GenericProperty key="number">8</gprop:GenericProperty>
          </Section>
    </data>
</LDM_event>)";

// A resource event as later releases write it: Section inside Content, _Type, plain id.
inline constexpr const char* kAddVdisk = R"(<LDM_event version='1.0'>
  <cmd>
    <action>add-vdisk</action>
    <data version='3.0'>
      <Envelope>
        <References/>
        <Content xsi:type='ovf:VirtualSystem_Type' id='ldg2'>
          <Section xsi:type='ovf:ResourceAllocationSection_Type'>
            <Item>
              <rasd:OtherResourceType>disk</rasd:OtherResourceType>
              <gprop:GenericProperty key='vdisk_name'>vdisk0</gprop:GenericProperty>
              <gprop:GenericProperty key='service_name'>primary-vds0</gprop:GenericProperty>
              <gprop:GenericProperty key='vol_name'>vol0</gprop:GenericProperty>
            </Item>
          </Section>
        </Content>
      </Envelope>
    </data>
  </cmd>
</LDM_event>)";

// A hardware event: only a Section, spconfig item.
inline constexpr const char* kAddSpconfig = R"(<LDM_event version='1.0'>
  <cmd>
    <action>add-spconfig</action>
    <data version='3.0'>
      <Envelope>
        <References/>
        <Section xsi:type='ovf:ResourceAllocationSection_type'>
          <Item>
            <rasd:OtherResourceType>spconfig</rasd:OtherResourceType>
            <gprop:GenericProperty key='spconfig_name'>primary-with-ldg1</gprop:GenericProperty>
            <gprop:GenericProperty key='spconfig_status'>next</gprop:GenericProperty>
          </Item>
        </Section>
      </Envelope>
    </data>
  </cmd>
</LDM_event>)";

// A progress event (migration), namespaces declared with the 1.x relative URIs.
inline constexpr const char* kMigrationProgress = R"(<LDM_event version='1.0'>
  <cmd>
    <action>migrate-domain</action>
    <data version='3.0'>
      <Envelope xmlns:ovf='/var/opt/SUNWldom/envelope' xmlns:rasd='/var/opt/SUNWldom/CIM_ResourceAllocationSettingData' xmlns:gprop='/var/opt/SUNWldom/GenericProperty' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'>
        <References/>
        <Content xsi:type='ovf:VirtualSystem_Type' ovf:id='ldg1'>
          <Section xsi:type='ovf:ResourceAllocationSection_type'>
            <Item>
              <rasd:OtherResourceType>ldom_info</rasd:OtherResourceType>
              <gprop:GenericProperty key='progress'>45%</gprop:GenericProperty>
              <gprop:GenericProperty key='status'>ongoing</gprop:GenericProperty>
              <gprop:GenericProperty key='source'>t5-primary</gprop:GenericProperty>
            </Item>
          </Section>
        </Content>
      </Envelope>
    </data>
  </cmd>
</LDM_event>)";

}  // namespace ldm_examples
