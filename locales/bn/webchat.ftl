## ওয়েব চ্যাট পেজ

web-title = Nexoraz: চ্যাটেই স্টুডিওর মতো ছবি
web-placeholder = মেসেজ লিখুন, অথবা পণ্যের ছবি পাঠান
web-send = পাঠান
web-photo = 📷 ছবি
web-offline = সংযোগ বিচ্ছিন্ন হয়েছে। আবার চেষ্টা করছি…
web-you = আপনি
web-bot = Nexoraz
